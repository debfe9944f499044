/**
 * `hashall export` on real trees: every active file, exactly as the catalog has it and as
 * lstat sees it on disk (hostile names included, through `_b64`), in JSON Lines and in strict
 * RFC 4180 CSV; one filesystem with --device; and 200,000 files streamed in bounded memory,
 * to a file and to a reader that does not read at first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { exportQueryPlan } from '../../src/catalog/file-export.js';
import { CLI, hashall } from '../helpers/cli.js';
import { csvObjects, pathBytes } from '../helpers/csv.js';
import {
  findFiles,
  mktree,
  mountTmpfs,
  mountUnavailableReason,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
} from '../helpers/fs.js';
import { HOSTILE_NAMES, bpath, writeReportTree } from '../helpers/report-tree.js';

type Row = Record<string, unknown> & {
  device_id: number;
  device: string;
  device_identity: string;
  mount_point: string;
  path: string;
  fs_path: string;
  size: number;
  mtime_ns: string;
  mtime: string;
  inode: number;
  nlink: number;
  sha256: string | null;
};

const HEADER = [
  'device_id',
  'device',
  'device_identity',
  'mount_point',
  'mount_point_b64',
  'path',
  'path_b64',
  'fs_path',
  'fs_path_b64',
  'size',
  'mtime_ns',
  'mtime',
  'inode',
  'nlink',
  'sha256',
  'host',
  'machine_id',
  'device_label',
];

function ok(args: string[], cat: string): void {
  const r = hashall([...args, '--catalog', cat, '--json']);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

function exportJson(cat: string, ...args: string[]): Row[] {
  const r = hashall(['export', '--format', 'json', '--out', '-', '--catalog', cat, ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.endsWith('\n')).toBe(true);
  return r.stdout
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
}

interface CatalogFile {
  device_id: bigint;
  path: Buffer;
  inode: bigint;
  nlink: bigint;
  size: bigint;
  mtime_ns: bigint;
  sha256: Buffer | null;
}

function catalogFiles(cat: string): CatalogFile[] {
  const db = new Database(cat, { readonly: true });
  try {
    return db
      .prepare(
        `SELECT device_id, path, inode, nlink, size, mtime_ns, sha256 FROM file_paths WHERE status = 'active'`,
      )
      .safeIntegers(true)
      .all() as CatalogFile[];
  } finally {
    db.close();
  }
}

const key = (b: Buffer) => b.toString('latin1');

/**
 * lstat of every regular file below `root`, by Python, fd-relative (paths longer than PATH_MAX
 * included), keyed by the absolute path's bytes (latin1).
 */
function lstatTree(
  root: string,
): Map<string, { size: number; ino: string; nlink: number; mtime_ns: string }> {
  const py = `
import base64, json, os, stat, sys
top = os.fsencode(sys.argv[1])
out = []
for dirpath, dirnames, filenames, dfd in os.fwalk(top, follow_symlinks=False):
    for name in filenames:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            out.append([base64.b64encode(os.path.join(dirpath, name)).decode(), st.st_size,
                        str(st.st_ino), st.st_nlink, str(st.st_mtime_ns)])
json.dump(out, sys.stdout)
`;
  const r = spawnSync('python3', ['-c', py, root], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr);
  const list = JSON.parse(r.stdout) as [string, number, string, number, string][];
  return new Map(
    list.map(([p, size, ino, nlink, mtime]) => [
      key(Buffer.from(p, 'base64')),
      { size, ino, nlink, mtime_ns: mtime },
    ]),
  );
}

describe('export of a scanned tree', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  let rows: Row[];

  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    cat = join(dir, 'c.db');
    writeReportTree(join(tree, 'hand'));
    mktree(join(tree, 'gen'), ['--files', '800', '--total-mb', '8', '--seed', '21', '--tricky']);
    ok(['scan', tree], cat);
    // A file that is gone: its row stays in the catalog, marked deleted, and is not exported.
    unlinkSync(join(tree, 'hand', 'unique.txt'));
    ok(['scan', tree], cat);
    rows = exportJson(cat);
  });
  afterAll(() => removeTree(dir));

  it('JSON Lines: one object per active file, equal to the catalog rows', () => {
    const files = catalogFiles(cat);
    expect(rows).toHaveLength(files.length);
    const byPath = new Map(files.map((f) => [key(f.path), f]));
    const seen = new Set<string>();
    for (const r of rows) {
      const fsPath = pathBytes(r, 'fs_path');
      const f = byPath.get(key(fsPath));
      expect(f, fsPath.toString()).toBeDefined();
      seen.add(key(fsPath));
      expect(r.device_id).toBe(Number(f!.device_id));
      expect(r.size).toBe(Number(f!.size));
      expect(BigInt(r.inode)).toBe(BigInt.asUintN(64, f!.inode));
      expect(r.nlink).toBe(Number(f!.nlink));
      expect(r.mtime_ns).toBe(f!.mtime_ns.toString());
      expect(r.sha256).toBe(f!.sha256 ? f!.sha256.toString('hex') : null);
      expect(Date.parse(r.mtime)).toBe(Number(f!.mtime_ns / 1_000_000n));
      expect(r.mtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      const abs = pathBytes(r, 'path');
      expect(abs.subarray(abs.length - fsPath.length).equals(fsPath)).toBe(true);
      expect(typeof r.device).toBe('string');
      expect(typeof r.device_identity).toBe('string');
    }
    expect(seen.size).toBe(files.length);
    // Hashed and unhashed files both appear; deleted rows do not.
    expect(rows.some((r) => r.sha256 === null)).toBe(true);
    expect(rows.some((r) => r.sha256 !== null)).toBe(true);
    expect(rows.some((r) => r.path.endsWith('/hand/unique.txt'))).toBe(false);
    // The same every time: the order is the catalog's (device, directory, name).
    expect(exportJson(cat)).toEqual(rows);
  });

  it('is exactly the tree on disk: every regular file, with the size, inode, links and mtime lstat gives', () => {
    const onDisk = lstatTree(tree);
    expect(new Set(rows.map((r) => key(pathBytes(r, 'path'))))).toEqual(new Set(onDisk.keys()));
    for (const r of rows) {
      const st = onDisk.get(key(pathBytes(r, 'path')))!;
      expect(st.size).toBe(r.size);
      expect(st.ino).toBe(String(r.inode));
      expect(st.nlink).toBe(r.nlink);
      expect(st.mtime_ns).toBe(r.mtime_ns);
    }
    for (const name of HOSTILE_NAMES) {
      const want = key(bpath(join(tree, 'hand'), 'dup', name));
      expect(
        rows.some((r) => key(pathBytes(r, 'path')) === want),
        JSON.stringify(name.toString('latin1')),
      ).toBe(true);
    }
    expect(rows.filter((r) => r.path_b64 !== undefined).length).toBeGreaterThan(1);
  });

  it('CSV (strict RFC 4180) holds the same rows; --format jsonl is JSON Lines too', () => {
    const out = join(dir, 'files.csv');
    const r = hashall(['export', '--out', out, '--catalog', cat]); // format from the extension
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^ok Exported ${rows.length.toLocaleString('en-US')} files \\(CSV, .*\\) to ${out}\\n$`,
      ),
    );
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const { header, rows: csv } = csvObjects(readFileSync(out, 'utf8'));
    expect(header).toEqual(HEADER);
    expect(csv).toHaveLength(rows.length);
    csv.forEach((c, i) => {
      const j = rows[i]!;
      expect(c).toEqual(
        Object.fromEntries(
          HEADER.map((k) => [k, j[k] === undefined || j[k] === null ? '' : String(j[k])]),
        ),
      );
      expect(pathBytes(c, 'path').equals(pathBytes(j, 'path'))).toBe(true);
    });
    const jsonl = hashall(['export', '--format', 'jsonl', '--out', '-', '--catalog', cat]);
    const json = hashall(['export', '--format', 'json', '--out', '-', '--catalog', cat]);
    expect(jsonl.stdout).toBe(json.stdout);
    const summary = hashall(['export', '--out', join(dir, 'f.jsonl'), '--catalog', cat, '--json']);
    expect(summary.json()).toMatchObject({ format: 'jsonl', files: rows.length, device: null });
  });

  it('never sorts the catalog: the query walks the indexes in order', () => {
    const db = new Database(cat, { readonly: true });
    try {
      for (const plan of [exportQueryPlan(db), exportQueryPlan(db, 1)]) {
        expect(plan.join('\n')).not.toMatch(/TEMP B-TREE/);
        expect(plan.join('\n')).toMatch(/USING (COVERING )?INDEX/);
      }
    } finally {
      db.close();
    }
  });

  it('writes into a character device or a FIFO (never replacing it) and through a symlink to its file', async () => {
    // A copy of /dev/null's device node: the real one must never be at risk in a test.
    const devNull = join(dir, 'null');
    execFileSync('mknod', ['-m', '666', devNull, 'c', '1', '3']);
    ok(['export', '--format', 'csv', '--out', devNull], cat);
    expect(lstatSync(devNull).isCharacterDevice()).toBe(true);
    const plan = hashall(['conductor', 'plan', 'out-test', '--json', '--catalog', cat]);
    expect(plan.code).toBe(0);
    const id = String((JSON.parse(plan.stdout) as { id: number }).id);
    ok(['conductor', 'report', id, '--format', 'json', '--out', devNull], cat);
    expect(lstatSync(devNull).isCharacterDevice()).toBe(true);

    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    let got = '';
    reader.stdout.on('data', (d: Buffer) => (got += d.toString('utf8')));
    const done = new Promise((r) => reader.on('close', r));
    const w = spawn(process.execPath, [
      CLI,
      'export',
      '--format',
      'jsonl',
      '--out',
      fifo,
      '--catalog',
      cat,
      '-q',
    ]);
    const code = await new Promise((r) => w.on('close', r));
    await done;
    expect(code).toBe(0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(got.trimEnd().split('\n')).toHaveLength(rows.length);

    const real = join(dir, 'real.csv');
    writeFileSync(real, 'old');
    const link = join(dir, 'link.csv');
    symlinkSync(real, link);
    ok(['export', '--format', 'csv', '--out', link], cat);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8').split('\r\n')[0]).toBe(HEADER.join(','));
  });

  it('errors are one line with exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['export', '--format', 'xml', '--out', '-'], /use one of: json, jsonl, csv/],
      [['export', '--format', 'json'], /required option '--out <file>'/],
      [['export', '--out', '-'], /^hashall: error: give --format json\|csv/],
      [
        ['export', '--device', 'nosuchalias', '--format', 'csv', '--out', '-'],
        /^hashall: error: --device nosuchalias: /,
      ],
      [
        ['export', '--format', 'csv', '--out', join(dir, 'missing', 'x.csv')],
        /^hashall: error: cannot write .*missing\/x\.csv: ENOENT \(no such file or directory\)$/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = hashall([...args, '--catalog', cat]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(re);
    }
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });
});

describe('export --device', () => {
  let dir: string;
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('exports one filesystem, by path or by alias', (ctx) => {
    requireMounts(ctx);
    dir = tempDir();
    const tree = join(dir, 'tree');
    writeReportTree(tree);
    const mem = join(tree, 'mem');
    mountTmpfs(mem, 8);
    writeReportTree(mem);
    const cat = join(dir, 'c.db');
    ok(['scan', tree], cat);
    const all = exportJson(cat);
    const inMem = exportJson(cat, '--device', mem);
    expect(new Set(all.map((r) => r.device_id)).size).toBe(2);
    expect(inMem.length).toBe(findFiles(mem).length);
    expect(inMem.every((r) => r.path.startsWith(`${mem}/`) && r.mount_point === mem)).toBe(true);
    expect(new Set(inMem.map((r) => r.device_id)).size).toBe(1);
    expect(inMem).toEqual(all.filter((r) => r.device_id === inMem[0]!.device_id));
    // Inside its filesystem, the paths start at its root.
    expect(inMem.every((r) => `${mem}${r.fs_path}` === r.path)).toBe(true);
    expect(exportJson(cat, '--device', inMem[0]!.device)).toEqual(inMem);
  });
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Run the CLI, sampling its memory from /proc while it runs. */
function measured(
  args: string[],
  opts: { holdStdoutMs?: number; closeStdoutAfterFirstChunk?: boolean } = {},
): Promise<{
  code: number | null;
  stderr: string;
  stdoutBytes: number;
  lines: number;
  hwmKb: number;
}> {
  return new Promise((resolve, reject) => {
    // A 48 MiB JavaScript heap, which an export holding its rows would overflow: memory that
    // does not grow with the catalog, whatever the Node line's collector does with a heap it may
    // grow (uncapped, the same export peaked anywhere from 124 to 179 MiB on Node 20 and 26).
    // The young generation is pinned too (8 MiB semi-spaces): Node 26 sizes it larger by
    // default, and the short-lived row strings then kept ~35 MiB more resident than on Node 20
    // (export of this catalog: 155 against 118 MiB; pinned, 110 against 98 MiB).
    const child = spawn(
      process.execPath,
      ['--max-old-space-size=48', '--max-semi-space-size=8', CLI, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HASHALL_CATALOG: '' },
      },
    );
    let hwmKb = 0;
    const poll = setInterval(() => {
      try {
        const s = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        hwmKb = Math.max(hwmKb, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0));
      } catch {
        // exited
      }
    }, 15);
    let stderr = '';
    let stdoutBytes = 0;
    let lines = 0;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const consume = () => {
      child.stdout.on('data', (d: Buffer) => {
        stdoutBytes += d.length;
        for (let i = d.indexOf(0x0a); i >= 0; i = d.indexOf(0x0a, i + 1)) lines++;
        if (opts.closeStdoutAfterFirstChunk) child.stdout.destroy();
      });
      child.stdout.resume();
    };
    if (opts.holdStdoutMs) {
      child.stdout.pause();
      setTimeout(consume, opts.holdStdoutMs);
    } else consume();
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code, stderr, stdoutBytes, lines, hwmKb });
    });
  });
}

describe('export of 200,000 files', () => {
  const N = 200_000;
  let dir: string;
  let tree: string;
  let cat: string;

  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    // On tmpfs when we may mount (fast and off the shared disk), else in the temp directory.
    if (!mountUnavailableReason()) mountTmpfs(tree, 256);
    const py = `
import os, sys
root = sys.argv[1]
for d in range(400):
    p = os.path.join(root, 'd%03d' % d)
    os.makedirs(p, exist_ok=True)
    for i in range(500):
        open(os.path.join(p, 'file-%04d, "n".dat' % i), 'wb').close()
`;
    const made = spawnSync('python3', ['-c', py, tree], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(made.stderr);
    cat = join(dir, 'c.db');
    ok(['scan', tree], cat);
  }, 180_000);
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('to a file: every row, in bounded memory', async () => {
    const out = join(dir, 'all.jsonl');
    const t0 = Date.now();
    const r = await measured(['export', '--format', 'json', '--out', out, '--catalog', cat]);
    const ms = Date.now() - t0;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    let lines = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
    expect(lines).toBe(N);
    expect(JSON.parse(text.slice(0, text.indexOf('\n')))).toMatchObject({ nlink: 1 });
    console.log(
      `export of ${N} files to a file: ${ms} ms, ${(text.length / 1e6).toFixed(1)} MB, peak RSS ${(r.hwmKb / 1024).toFixed(0)} MiB`,
    );
    expect(r.hwmKb).toBeGreaterThan(0);
    expect(r.hwmKb).toBeLessThan(150 * 1024);
  });

  it('to standard output with a reader that waits: backpressure keeps memory bounded', async () => {
    const r = await measured(['export', '--format', 'json', '--out', '-', '--catalog', cat], {
      holdStdoutMs: 2000,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.lines).toBe(N);
    console.log(
      `export of ${N} files to a reader held for 2 s: ${(r.stdoutBytes / 1e6).toFixed(1)} MB, peak RSS ${(r.hwmKb / 1024).toFixed(0)} MiB`,
    );
    expect(r.hwmKb).toBeLessThan(150 * 1024);
  });

  it('Ctrl-C stops it with exit 130 and leaves neither the file nor a temporary one', async () => {
    const outDir = join(dir, 'int');
    mkdirSync(outDir);
    const out = join(outDir, 'all.jsonl');
    const child = spawn(
      process.execPath,
      [CLI, 'export', '--format', 'json', '--out', out, '--catalog', cat],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HASHALL_CATALOG: '' } },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Interrupt once the temporary file is being written.
    await waitFor(() => readdirSync(outDir).length > 0, 20_000);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/hashall: error: interrupted; .*all\.jsonl was not written\n$/);
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('a full disk fails with the path and ENOSPC, exit 1, and removes its temporary file', (ctx) => {
    requireMounts(ctx);
    const small = join(dir, 'small');
    mountTmpfs(small, 1);
    const r = hashall([
      'export',
      '--format',
      'json',
      '--out',
      join(small, 'all.jsonl'),
      '--catalog',
      cat,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `hashall: error: cannot write ${join(small, 'all.jsonl')}: ENOSPC (no space left on device)\n`,
    );
    expect(readdirSync(small)).toEqual([]);
  });

  it('stops quietly when the reader goes away (| head)', async () => {
    const r = await measured(['export', '--format', 'csv', '--out', '-', '--catalog', cat], {
      closeStdoutAfterFirstChunk: true,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdoutBytes).toBeLessThan(10_000_000);
  });
});
