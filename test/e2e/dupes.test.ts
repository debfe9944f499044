/**
 * `hashall dupes`: the duplicate groups of a real tree, in every format, parsed back and
 * compared with groups computed here independently (a walk of the tree with byte names, lstat,
 * and SHA-256 of every file). Two tmpfs mounts for --cross-device; hostile names (non-UTF-8,
 * a newline); hardlinks; filters; the PATH scope; the catalog left untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { CLI, hashall, type CliResult } from '../helpers/cli.js';
import { parseCsv } from '../helpers/csv.js';
import {
  mountTmpfs,
  mountUnavailableReason,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
} from '../helpers/fs.js';

interface Member {
  device: string;
  inode: number;
  nlink: number;
  shared: boolean;
  path: string;
  path_b64?: string;
}
interface Group {
  group: number;
  sha256: string;
  size: number;
  files: number;
  paths: number;
  devices: number;
  bytes_saveable: number;
  members: Member[];
}
interface DupesJson {
  scope: { path: string }[];
  filters: Record<string, unknown>;
  cross_device: boolean;
  groups: Group[];
  group_count: number;
  files: number;
  paths: number;
  bytes_saveable: number;
}

/** One expected group: key → sorted paths (latin1 keys of the exact bytes), files, savings. */
interface Expected {
  sha256: string;
  size: number;
  files: number;
  saveable: number;
  paths: string[];
  devices: Set<string>;
}

let base: string;
let m1: string;
let m2: string;
let cat: string;
const alias = new Map<string, string>(); // mount point → device alias

const B = (s: string) => Buffer.from(s);
const key = (b: Buffer) => b.toString('latin1');

function run(args: string[], cwd?: string): CliResult {
  return hashall([...args, '--catalog', cat], cwd ? { cwd } : {});
}

/** A deterministic pseudo-random sequence (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 40 contents of 1 byte to 40 KB, spread over 150 files in nested directories of both mounts,
 * some hardlinked, some names hostile; two empty files (never listed).
 */
function makeTree(): void {
  const rand = rng(12);
  const contents = Array.from({ length: 40 }, (_, i) => {
    const size = 1 + Math.floor(rand() * (i % 5 === 0 ? 40_000 : 3000));
    return Buffer.alloc(size, `content-${i}-`);
  });
  const dirs = [
    [m1, 'media'],
    [m1, 'media/deep/er'],
    [m1, 'backup'],
    [m1, 'scope/sub'],
    [m2, 'stash'],
  ] as const;
  const created: Buffer[] = [];
  for (let i = 0; i < 150; i++) {
    const [m, d] = dirs[Math.floor(rand() * dirs.length)]!;
    const dir = B(`${m}/${d}`);
    mkdirSync(dir, { recursive: true });
    let name = B(`f${i}.${i % 3 === 0 ? 'dup' : 'bin'}`);
    if (i % 17 === 0) name = Buffer.concat([B(`caf`), Buffer.from([0xe9, 0x2d]), name]);
    if (i % 23 === 0) name = Buffer.concat([B('new\nline-'), name]);
    const p = Buffer.concat([dir, B('/'), name]);
    writeFileSync(p, contents[Math.floor(rand() * rand() * contents.length)]!);
    created.push(p);
    if (i % 11 === 0 && created.length > 2) {
      // A hardlink of an earlier file in the same filesystem.
      const src = created[Math.floor(rand() * created.length)]!;
      if (src.subarray(0, m.length).toString() === m)
        linkSync(src, Buffer.concat([dir, B(`/link${i}`)]));
    }
  }
  writeFileSync(`${m1}/media/empty1`, '');
  writeFileSync(`${m1}/backup/empty2`, '');
}

/** Every regular file below `root` as [path bytes, lstat, sha256]. */
function walk(root: Buffer, out: { path: Buffer; dev: number; ino: number; size: number }[]) {
  for (const name of readdirSync(root, { encoding: 'buffer' })) {
    const p = Buffer.concat([root, B('/'), name]);
    const st = lstatSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (st.isFile()) out.push({ path: p, dev: st.dev, ino: st.ino, size: st.size });
  }
}

const digests = new Map<string, string>();
function sha(p: Buffer): string {
  let h = digests.get(key(p));
  if (!h) {
    h = createHash('sha256').update(readFileSync(p)).digest('hex');
    digests.set(key(p), h);
  }
  return h;
}

/** The groups `dupes` must list, computed from the tree alone. */
function expected(opts: {
  roots: string[];
  cross?: boolean;
  keep?: (p: Buffer, size: number) => boolean;
}): Map<string, Expected> {
  const files: { path: Buffer; dev: number; ino: number; size: number }[] = [];
  for (const r of opts.roots) walk(B(r), files);
  const groups = new Map<
    string,
    { sha256: string; size: number; inodes: Set<string>; paths: string[]; devices: Set<string> }
  >();
  for (const f of files) {
    if (f.size === 0 || (opts.keep && !opts.keep(f.path, f.size))) continue;
    const h = sha(f.path);
    const mount = [m1, m2].find((m) => f.path.subarray(0, m.length + 1).equals(B(`${m}/`)))!;
    const k = opts.cross ? `${h}:${f.size}` : `${h}:${f.size}:${f.dev}`;
    let g = groups.get(k);
    if (!g)
      groups.set(
        k,
        (g = { sha256: h, size: f.size, inodes: new Set(), paths: [], devices: new Set() }),
      );
    g.inodes.add(`${f.dev}:${f.ino}`);
    g.paths.push(key(f.path));
    g.devices.add(alias.get(mount)!);
  }
  const out = new Map<string, Expected>();
  for (const [k, g] of groups) {
    if (g.inodes.size < 2) continue;
    out.set(k, {
      sha256: g.sha256,
      size: g.size,
      files: g.inodes.size,
      saveable: g.size * (g.inodes.size - 1),
      paths: g.paths.sort(),
      devices: g.devices,
    });
  }
  return out;
}

const memberPath = (m: { path: string; path_b64?: string }) =>
  m.path_b64 ? Buffer.from(m.path_b64, 'base64') : Buffer.from(m.path);

/** The listing as comparable data: group key → sorted path keys, files, savings. */
function actual(groups: Group[], cross = false): Map<string, Expected> {
  const out = new Map<string, Expected>();
  for (const g of groups) {
    const devs = new Set(g.members.map((m) => m.device));
    const devKey = cross ? '' : `:${lstatSync(memberPath(g.members[0]!)).dev}`;
    out.set(`${g.sha256}:${g.size}${devKey}`, {
      sha256: g.sha256,
      size: g.size,
      files: g.files,
      saveable: g.bytes_saveable,
      paths: g.members.map((m) => key(memberPath(m))).sort(),
      devices: devs,
    });
  }
  return out;
}

function dupesJson(args: string[], cwd?: string): DupesJson {
  const r = run(['dupes', ...args, '--json'], cwd);
  expect(r.code, r.stderr).toBe(0);
  return r.json<DupesJson>();
}

function checkOrder(groups: Group[]): void {
  for (let i = 1; i < groups.length; i++)
    expect(groups[i - 1]!.bytes_saveable).toBeGreaterThanOrEqual(groups[i]!.bytes_saveable);
  groups.forEach((g, i) => expect(g.group).toBe(i + 1));
}

beforeAll(() => {
  if (mountUnavailableReason()) return;
  base = realpathSync(tempDir('hashall-dupes-'));
  m1 = `${base}/pool`;
  m2 = `${base}/stash`;
  mountTmpfs(m1, 32);
  mountTmpfs(m2, 32);
  cat = `${base}/catalog.db`;
  makeTree();
  const s = run(['scan', m1, m2, '--quiet']);
  expect(s.code, s.stderr).toBe(0);
  const devs = run(['devices', '--json']).json<{
    devices: { alias: string; mount_point: string }[];
  }>();
  for (const d of devs.devices) alias.set(d.mount_point, d.alias);
});

afterAll(() => {
  unmountAll();
  if (base) removeTree(base);
});

describe('hashall dupes', () => {
  it('--json lists exactly the groups computed from the tree, largest savings first', (ctx) => {
    requireMounts(ctx);
    const doc = dupesJson([]);
    const want = expected({ roots: [m1, m2] });
    expect(want.size).toBeGreaterThan(10);
    expect(actual(doc.groups)).toEqual(want);
    checkOrder(doc.groups);
    expect(doc.group_count).toBe(want.size);
    expect(doc.bytes_saveable).toBe([...want.values()].reduce((n, g) => n + g.saveable, 0));
    // Paths of one inode are listed together and marked shared; hostile names carry _b64.
    let shared = 0;
    for (const g of doc.groups) {
      const byInode = new Map<number, number>();
      for (const m of g.members) byInode.set(m.inode, (byInode.get(m.inode) ?? 0) + 1);
      for (const m of g.members) expect(m.shared).toBe(byInode.get(m.inode)! > 1);
      shared += g.members.filter((m) => m.shared).length;
      const order = g.members.map((m) => m.inode);
      expect(order).toEqual([...order].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
    }
    expect(shared).toBeGreaterThan(0);
    expect(doc.groups.some((g) => g.members.some((m) => m.path_b64))).toBe(true);
  });

  it('jsonl and csv stream the same groups; text shows one header per group and every path', (ctx) => {
    requireMounts(ctx);
    const doc = dupesJson([]);
    const jsonl = run(['dupes', '--format', 'jsonl']);
    expect(jsonl.code, jsonl.stderr).toBe(0);
    const lines = jsonl.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Group);
    expect(lines).toEqual(doc.groups);

    const csv = run(['dupes', '--format', 'csv']);
    expect(csv.code, csv.stderr).toBe(0);
    const [head, ...rows] = parseCsv(csv.stdout);
    const col = (n: string) => head!.indexOf(n);
    const fromCsv = new Map<number, Group>();
    for (const r of rows) {
      const no = Number(r[col('group')]);
      let g = fromCsv.get(no);
      if (!g) {
        g = {
          group: no,
          sha256: r[col('sha256')]!,
          size: Number(r[col('size')]),
          files: Number(r[col('files')]),
          paths: 0,
          devices: 0,
          bytes_saveable: Number(r[col('bytes_saveable')]),
          members: [],
        };
        fromCsv.set(no, g);
      }
      g.members.push({
        device: r[col('device')]!,
        inode: Number(r[col('inode')]),
        nlink: Number(r[col('nlink')]),
        shared: r[col('shared')] === 'true',
        path: r[col('path')]!,
        ...(r[col('path_b64')] ? { path_b64: r[col('path_b64')]! } : {}),
      });
    }
    expect(actual([...fromCsv.values()])).toEqual(actual(doc.groups));

    const text = run(['dupes']);
    expect(text.code, text.stderr).toBe(0);
    const blocks = text.stdout.trimEnd().split('\n\n');
    const summary = blocks.pop()!;
    expect(blocks).toHaveLength(doc.groups.length);
    blocks.forEach((b, i) => {
      const g = doc.groups[i]!;
      const [header, ...paths] = b.split('\n');
      expect(header).toMatch(
        new RegExp(`^${g.sha256.slice(0, 12)}  .* × ${g.files} files.*saves `),
      );
      expect(paths).toHaveLength(g.members.length); // a newline in a name is escaped, not a line
      paths.forEach((p, j) =>
        expect(p.startsWith('  = ')).toBe(j > 0 && g.members[j - 1]!.inode === g.members[j]!.inode),
      );
    });
    expect(summary).toMatch(
      new RegExp(`^${doc.group_count} groups of duplicates: ${doc.files} files`),
    );
    expect(text.stdout).toContain('\\n'); // the name with a newline, escaped

    // Piped into a reader that leaves early: no error, exit 0.
    const piped = spawnSync(
      'bash',
      ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" dupes --catalog "${cat}" | head -1`],
      { encoding: 'utf8' },
    );
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stdout).toBe(`${blocks[0]!.split('\n')[0]}\n`);
    expect(piped.stderr).toBe('');
  });

  it('filters: --min-size, --max-size, --exclude, --include take paths out before grouping', (ctx) => {
    requireMounts(ctx);
    const sizes = dupesJson(['--min-size', '1000', '--max-size', '20000']);
    expect(actual(sizes.groups)).toEqual(
      expected({ roots: [m1, m2], keep: (_p, s) => s >= 1000 && s <= 20_000 }),
    );
    const ex = dupesJson(['--exclude', '*.dup']);
    const notDup = (p: Buffer) => !p.toString('latin1').endsWith('.dup');
    expect(actual(ex.groups)).toEqual(expected({ roots: [m1, m2], keep: notDup }));
    checkOrder(ex.groups);
    const inc = dupesJson(['--include', `${m1}/media/**`]);
    expect(actual(inc.groups)).toEqual(expected({ roots: [`${m1}/media`] }));
    expect(ex.filters).toMatchObject({ exclude: ['*.dup'] });
  });

  it('PATH scope (absolute, relative, several) and --limit', (ctx) => {
    requireMounts(ctx);
    const one = dupesJson([`${m1}/media`]);
    expect(actual(one.groups)).toEqual(expected({ roots: [`${m1}/media`] }));
    expect(one.scope.map((s) => s.path)).toEqual([`${m1}/media`]);
    const rel = dupesJson(['media', 'backup'], m1);
    expect(actual(rel.groups)).toEqual(expected({ roots: [`${m1}/media`, `${m1}/backup`] }));
    const all = dupesJson([]);
    const two = dupesJson(['--limit', '2']);
    expect(two.groups).toEqual(all.groups.slice(0, 2));
    const text = run(['dupes', '--limit', '1']).stdout;
    expect(text.trimEnd().split('\n\n')).toHaveLength(2); // one group and the summary
    const bad = run(['dupes', `${m1}/nope`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/PATH .*nope: ENOENT/);
  });

  it('--cross-device groups copies on both filesystems and names the device of each path', (ctx) => {
    requireMounts(ctx);
    const doc = dupesJson(['--cross-device']);
    const want = expected({ roots: [m1, m2], cross: true });
    expect(actual(doc.groups, true)).toEqual(want);
    expect([...want.values()].some((g) => g.devices.size === 2)).toBe(true);
    for (const g of doc.groups) {
      for (const m of g.members) {
        const mount = [m1, m2].find((x) => memberPath(m).toString('latin1').startsWith(`${x}/`))!;
        expect(m.device).toBe(alias.get(mount));
      }
      expect(g.devices).toBe(new Set(g.members.map((m) => m.device)).size);
    }
    const text = run(['dupes', '--cross-device']).stdout;
    expect(text).toMatch(new RegExp(`^    \\[${alias.get(m2)}\\] ${m2}/stash/`, 'm'));
  });

  it('reads the catalog only: no byte of it changes, and usage errors exit 2', (ctx) => {
    requireMounts(ctx);
    const digest = () =>
      ['', '-wal', '-shm']
        .map((s) => {
          try {
            return createHash('sha256')
              .update(readFileSync(cat + s))
              .digest('hex');
          } catch {
            return 'absent';
          }
        })
        .join(',');
    const before = digest();
    const mtime = lstatSync(cat).mtimeMs;
    for (const args of [[], ['--cross-device'], ['--format', 'csv'], [`${m1}/scope`]])
      expect(run(['dupes', ...args]).code).toBe(0);
    expect(digest()).toBe(before);
    expect(lstatSync(cat).mtimeMs).toBe(mtime);
    for (const args of [
      ['--format', 'xml'],
      ['--json', '--format', 'csv'],
      ['--keep', 'path'],
      ['--limit', 'many'],
    ]) {
      const r = run(['dupes', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
