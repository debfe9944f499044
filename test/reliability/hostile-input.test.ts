/**
 * Hostile input, end to end on real files: names at the limits and a 100,000-entry directory,
 * every kind of entry a scan can meet, permissions that deny the scanning user, sizes from 0 to
 * past 4 GiB, a file that grows while it is hashed, damaged catalogs, and bad command-line
 * values. Every case gets its own directory and catalog.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  readdirSync,
  utimesSync,
  chmodSync,
  chownSync,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { readCatalog } from '../helpers/catalog.js';
import { CLI, hashall, type CliOptions, type CliResult } from '../helpers/cli.js';
import {
  findFiles,
  makeSocket,
  mountTmpfs,
  mountUnavailableReason,
  removeTree,
  tempDir,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';
import { contentDiff, snapshot } from '../helpers/snapshot.js';

interface ScanJson {
  files: number;
  new: number;
  unchanged: number;
  deleted: number;
  hashed_files: number;
  changed_while_hashing: number;
  skipped: Record<string, number>;
  errors: { path: string; error: string }[];
  error_count: number;
  pending: number;
}
interface PlanJson {
  id: number;
  opportunities: number;
  bytes_saveable: number;
  actions: Record<string, number>;
  pending: number;
}
interface ShowJson {
  actions: { type: string; source: string; target: string; bytes: number; size: number }[];
}
interface ExecJson {
  executed: number;
  failed: number;
  bytes_saved: number;
  status: string;
}

const NOBODY = { uid: 65534, gid: 65534 };

const made: string[] = [];

/** A fresh directory for one case, by its real path (catalog paths are real paths). */
function workDir(): string {
  const d = realpathSync(tempDir('hashall-hostile-'));
  made.push(d);
  return d;
}

afterEach(() => {
  unmountAll();
  while (made.length) removeTree(made.pop()!);
});

function run(args: string[], cat: string, opts?: CliOptions): CliResult {
  return hashall([...args, '--catalog', cat, '--json'], opts);
}

function ok<T>(args: string[], cat: string, opts?: CliOptions): T {
  const r = run(args, cat, opts);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json<T>();
}

/**
 * What is wrong with a refusal, as one string per command ([] when nothing): it must exit 2
 * with exactly one line on stderr matching `pattern` (starting `hashall: error:` when `own`),
 * no stack trace, and nothing on stdout. Collected rather than asserted one by one, so that a
 * failure lists every offending input at once.
 */
function refusalProblems(what: string, r: CliResult, pattern: RegExp, own = false): string[] {
  const p: string[] = [];
  const lines = r.stderr.trimEnd().split('\n');
  if (r.code !== 2) p.push(`exit ${r.code}`);
  if (/\n\s+at /.test(r.stderr)) p.push('stack trace');
  if (lines.length !== 1) p.push(`${lines.length} lines on stderr`);
  if (!pattern.test(r.stderr)) p.push(`stderr does not match ${pattern}`);
  if (own && !r.stderr.startsWith('hashall: error: ')) p.push("no 'hashall: error:' prefix");
  if (r.stdout !== '') p.push('output on stdout');
  return p.length ? [`${what}: ${p.join(', ')}; stderr: ${JSON.stringify(r.stderr)}`] : [];
}

/** A refusal of hashall's own: exit 2, one line starting `hashall: error:`. */
function expectRefusal(r: CliResult, pattern: RegExp): void {
  expect(refusalProblems('refusal', r, pattern, true)).toEqual([]);
}

const fileSha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

interface CatalogRow {
  size: number;
  prefix_hash: Buffer | null;
  sha256: Buffer | null;
}

/** The active catalog row of an absolute path (on the root filesystem: the path in it). */
function row(cat: string, path: string): CatalogRow | undefined {
  return readCatalog(
    cat,
    (db) =>
      db
        .prepare(
          `SELECT size, prefix_hash, sha256 FROM file_paths WHERE path = ? AND status = 'active'`,
        )
        .get(Buffer.from(path)) as CatalogRow | undefined,
  );
}

function activeCount(cat: string): number {
  return readCatalog(
    cat,
    (db) =>
      (db.prepare(`SELECT count(*) AS n FROM files WHERE status = 'active'`).get() as { n: number })
        .n,
  );
}

function activePathSet(cat: string): Set<string> {
  return new Set(
    readCatalog(cat, (db) =>
      (
        db.prepare(`SELECT path FROM file_paths WHERE status = 'active'`).all() as {
          path: Buffer;
        }[]
      ).map((r) => r.path.toString('latin1')),
    ),
  );
}

/** Every regular file below `root` as absolute byte paths (latin1 keys), found by find(1). */
function diskPathSet(root: string): Set<string> {
  return new Set(
    findFiles(root).map((p) => Buffer.concat([Buffer.from(root + '/'), p]).toString('latin1')),
  );
}

const ino = (p: string) => lstatSync(p, { bigint: true }).ino;

describe('names', () => {
  it('255-byte file and directory names, leading "-" and glob characters: catalogued, linked, intact', () => {
    const dir = workDir();
    // The root itself starts with "-" and holds glob characters.
    const rootName = '-root [*?]{a,b}';
    const tree = join(dir, rootName);
    const cat = join(dir, 'c.db');
    const longFile = 'f'.repeat(251) + '.bin';
    const longDir = 'd'.repeat(255);
    const longUtf8 = 'é'.repeat(127) + 'x';
    const dashDir = '-' + 'x'.repeat(254);
    for (const n of [longFile, longDir, longUtf8, dashDir]) expect(Buffer.byteLength(n)).toBe(255);
    const A = 'content A\n'.repeat(500);
    const B = 'content B\n'.repeat(500);
    const C = 'content C\n'.repeat(700);
    const groups: Record<string, string[]> = {
      [A]: [longFile, `${longDir}/${longFile}`, `${longDir}/${longUtf8}`],
      [B]: ['-rf', '--help', '-', '-n', `${dashDir}/--version`],
      [C]: ['*', '?', '[abc]', 'a', '{a,b}', '*?[]{}', '[', '{', `${longDir}/*`, '\\*'],
    };
    const files: Record<string, string> = {};
    for (const [content, names] of Object.entries(groups))
      for (const n of names) files[n] = content;
    writeTree(tree, files);
    const before = snapshot(tree);
    expect(before.size).toBe(Object.keys(files).length);

    // A root starting with "-" is given after "--", relative to the working directory.
    const r = hashall(['scan', '--catalog', cat, '--json', '--', rootName], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const s = r.json<ScanJson>();
    expect(s.files).toBe(Object.keys(files).length);
    expect(s.errors).toEqual([]);
    expect(activePathSet(cat)).toEqual(diskPathSet(tree));

    const plan = ok<PlanJson>(['conductor', 'plan', 'hostile names', '--device', tree], cat);
    const expectedLinks = Object.values(groups).reduce((n, g) => n + g.length - 1, 0);
    expect(plan.actions.HARDLINK).toBe(expectedLinks);
    expect(plan.bytes_saveable).toBe(
      Object.entries(groups).reduce((n, [c, g]) => n + c.length * (g.length - 1), 0),
    );
    const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(e.failed).toBe(0);
    expect(e.executed).toBe(expectedLinks);

    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    for (const names of Object.values(groups)) {
      const inodes = new Set(names.map((n) => ino(join(tree, n))));
      expect(inodes.size, `one inode for ${names.join(', ')}`).toBe(1);
    }
    expect(new Set(Object.values(groups).map((g) => ino(join(tree, g[0]!)))).size).toBe(3);
  });

  it('a root given as "." inside a directory named in Latin-1: scanned by both walks, rescanned by auto-execute, named in its bytes once gone', () => {
    const dir = workDir();
    const cat = join(dir, 'c.db');
    // /…/café in Latin-1: 0xE9 alone is not UTF-8. Node cannot take such a working directory
    // as a string, so a shell goes there (printf's octal escape) and runs the command.
    const raw = Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9])]);
    mkdirSync(raw);
    const file = (name: string) => Buffer.concat([raw, Buffer.from(`/${name}`)]);
    writeFileSync(file('a.txt'), 'the same bytes\n');
    writeFileSync(file('b.txt'), 'the same bytes\n');
    const inRaw = (env: Record<string, string>, ...args: string[]) => {
      const r = spawnSync(
        'sh',
        [
          '-c',
          'cd "$(printf \'%s/caf\\351\' "$DIR")" && exec "$@"',
          'sh',
          process.execPath,
          CLI,
          ...args,
        ],
        { encoding: 'utf8', env: { ...process.env, ...env, DIR: dir, HASHALL_CATALOG: '' } },
      );
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    // Both walks: the JS one works from inside each directory and returns to where it started.
    for (const native of ['1', '0']) {
      const c = native === '1' ? cat : join(dir, 'js-walk.db');
      const scan = inRaw({ HASHALL_NATIVE: native }, 'scan', '.', '--catalog', c, '--json');
      expect(scan.code, scan.stderr).toBe(0);
      expect((JSON.parse(scan.stdout) as ScanJson).files).toBe(2);
      expect(activePathSet(c)).toEqual(
        new Set([file('a.txt'), file('b.txt')].map((p) => p.toString('latin1'))),
      );
    }
    // The same directory named as an argument, in its bytes (printf again: Node's spawn takes
    // arguments as strings).
    const named = spawnSync(
      'sh',
      [
        '-c',
        'exec "$0" "$1" scan "$(printf \'%s/caf\\351\' "$DIR")" --catalog "$2" --json',
        process.execPath,
        CLI,
        join(dir, 'named.db'),
      ],
      { encoding: 'utf8', env: { ...process.env, DIR: dir, HASHALL_CATALOG: '' } },
    );
    expect(named.status, named.stderr).toBe(0);
    expect(activePathSet(join(dir, 'named.db'))).toEqual(activePathSet(cat));
    // The recorded root is those bytes: a rescan finds it where it is, not "gone".
    writeFileSync(file('c.txt'), 'the same bytes\n');
    const auto = run(
      ['conductor', 'auto-execute', '--device', dir, '--rescan', '--min-savings', '1TB'],
      cat,
    );
    expect(auto.code, auto.stderr).toBe(0);
    const doc = auto.json<{ rescan: ScanJson & { new: number }; missing_roots: unknown[] }>();
    expect(doc.missing_roots).toEqual([]);
    expect(doc).not.toHaveProperty('missing_roots_b64');
    expect(doc.rescan.files).toBe(3);
    expect(doc.rescan.new).toBe(1);
    // That root gone (another one still there): JSON names it in its exact bytes too, as
    // README "Paths in JSON" says of any path that is not UTF-8.
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'other', 'd.txt'), 'other bytes\n');
    expect(run(['scan', join(dir, 'other')], cat).code).toBe(0);
    renameSync(raw, join(dir, 'moved'));
    const gone = run(
      ['conductor', 'auto-execute', '--device', dir, '--rescan', '--min-savings', '1TB'],
      cat,
    );
    expect(gone.code, gone.stderr).toBe(0);
    const goneDoc = gone.json<{ missing_roots: string[]; missing_roots_b64?: string[] }>();
    expect(goneDoc.missing_roots).toEqual([`${dir}/caf\ufffd`]);
    expect(goneDoc.missing_roots_b64).toEqual([raw.toString('base64')]);
    expect(Buffer.from(goneDoc.missing_roots_b64![0]!, 'base64').equals(raw)).toBe(true);
  });

  it('duplicates only deeper than PATH_MAX: hashed while the walk is down there, nothing lost', () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    // 18 levels of 255-byte names (4.6 KB of path), then 60 directories of 3 equal files each.
    // The walk works inside them (its working directory is the listed directory), so hashing
    // runs while the process's working directory is longer than PATH_MAX.
    spawnSync(
      'python3',
      [
        '-c',
        `
import os, sys
os.makedirs(sys.argv[1])
os.chdir(sys.argv[1])
for i in range(18):
    name = chr(ord('a') + i) * 255
    os.mkdir(name)
    os.chdir(name)
for d in range(60):
    os.mkdir('d%02d' % d)
    for f in range(3):
        with open('d%02d/f%d.bin' % (d, f), 'wb') as fh:
            fh.write(b'same bytes everywhere\\n' * 300)
`,
        tree,
      ],
      { stdio: 'inherit' },
    );
    for (const hash of ['candidates', 'all']) {
      const cat = join(dir, `${hash}.db`);
      const r = hashall(['scan', tree, '--hash', hash, '--jobs', '1', '--catalog', cat, '--json'], {
        env: { HASHALL_FAILPOINT_DELAY: 'scan-dir=3' },
      });
      expect(r.code, r.stderr).toBe(0);
      const s = r.json<ScanJson>();
      expect(s.errors).toEqual([]);
      expect(s.files).toBe(180);
      expect(s.hashed_files).toBe(180);
      const plan = ok<PlanJson>(['conductor', 'plan', 'deep'], cat);
      expect(plan.actions.HARDLINK).toBe(179);
    }
  });

  it('a directory with 100,000 entries: every one catalogued, its duplicates planned', () => {
    const dir = workDir();
    const big = join(dir, 'big');
    const cat = join(dir, 'c.db');
    // On tmpfs when mounting is possible: creating 100,000 files on a busy disk alone takes
    // longer than the scan. The mount is a speed-up, not a requirement.
    if (mountUnavailableReason() === undefined) mountTmpfs(big, 1024);
    else mkdirSync(big);
    const N = 100_000;
    // Three contents of one size: only the hashes tell them apart.
    const contents = ['first content\n', 'other content\n', 'third content\n'];
    for (let i = 0; i < N; i++)
      writeFileSync(join(big, `f${String(i).padStart(6, '0')}`), contents[i % 3]!);

    const s = ok<ScanJson>(['scan', big], cat);
    expect(s.files).toBe(N);
    expect(s.new).toBe(N);
    expect(s.errors).toEqual([]);
    expect(s.pending).toBe(0);
    expect(activeCount(cat)).toBe(N);

    const plan = ok<PlanJson>(['conductor', 'plan', 'one huge directory', '--device', big], cat);
    expect(plan.actions.HARDLINK).toBe(N - 3);
    expect(plan.opportunities).toBe(N - 3);
    expect(plan.bytes_saveable).toBe((N - 3) * contents[0]!.length);
  });
});

describe('entry types', () => {
  it('a UNIX socket and character/block device nodes are counted, never opened or catalogued', () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    writeTree(tree, { 'a.txt': 'same content', 'b.txt': 'same content' });
    // Named like media files: only the type may decide.
    const sock = join(tree, 'socket.mkv');
    makeSocket(sock);
    execFileSync('mknod', [join(tree, 'chardev.bin'), 'c', '1', '3']);
    execFileSync('mknod', [join(tree, 'blockdev.bin'), 'b', '7', '200']);
    expect(lstatSync(sock).isSocket()).toBe(true);
    expect(lstatSync(join(tree, 'chardev.bin')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(tree, 'blockdev.bin')).isBlockDevice()).toBe(true);

    // --hash all and one job: every regular file is opened, and nothing else may be.
    const r = run(['scan', tree, '--hash', 'all', '--jobs', '1'], cat, { timeoutMs: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    const s = r.json<ScanJson>();
    expect(s.skipped).toEqual({ symlink: 0, fifo: 0, socket: 1, device: 2, other: 0, catalog: 0 });
    expect(s.files).toBe(2);
    expect(s.errors).toEqual([]);
    expect(activePathSet(cat)).toEqual(
      new Set(
        [join(tree, 'a.txt'), join(tree, 'b.txt')].map((p) => Buffer.from(p).toString('latin1')),
      ),
    );
    expect(lstatSync(sock).isSocket()).toBe(true);
  });

  it('symlink loops and a dangling symlink are counted as symlinks and never followed', () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    writeTree(tree, { 'a.txt': 'same content', 'sub/b.txt': 'same content' });
    symlinkSync('self', join(tree, 'self'));
    symlinkSync('pong', join(tree, 'ping'));
    symlinkSync('ping', join(tree, 'pong'));
    symlinkSync('/does/not/exist/anywhere', join(tree, 'dangling'));
    symlinkSync('.', join(tree, 'dot'));
    symlinkSync('..', join(tree, 'sub', 'up'));

    const r = run(['scan', tree, '--hash', 'all'], cat, { timeoutMs: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    const s = r.json<ScanJson>();
    expect(s.skipped.symlink).toBe(6);
    expect(s.files).toBe(2);
    expect(s.errors).toEqual([]);
    expect(activeCount(cat)).toBe(2);

    // Given as the root, a loop or a dangling link is refused with one line.
    expectRefusal(
      hashall(['scan', join(tree, 'self'), '--catalog', cat], { timeoutMs: 60_000 }),
      /ELOOP/,
    );
    expectRefusal(
      hashall(['scan', join(tree, 'dangling'), '--catalog', cat], { timeoutMs: 60_000 }),
      /ENOENT/,
    );
  });

  it('a candidate unreadable to the scanning user: EACCES with its path, exit 1, nothing hashed, never planned', () => {
    const dir = workDir();
    chmodSync(dir, 0o755);
    const tree = join(dir, 'tree');
    const catDir = join(dir, 'catalog');
    mkdirSync(catDir);
    chownSync(catDir, NOBODY.uid, NOBODY.gid);
    const cat = join(catDir, 'c.db');
    const content = 'duplicate content\n'.repeat(100);
    writeTree(tree, { 'open-a.txt': content, 'open-b.txt': content, 'secret.txt': content });
    chmodSync(tree, 0o755);
    const secret = join(tree, 'secret.txt');
    chmodSync(secret, 0o600); // root's, and the scan runs as nobody

    const r = run(['scan', tree], cat, { asUser: NOBODY });
    expect(r.code, r.stderr).toBe(1);
    const s = r.json<ScanJson>();
    expect(s.files).toBe(3);
    expect(s.errors).toEqual([{ path: secret, error: expect.stringMatching(/EACCES/) }]);
    expect(s.error_count).toBe(1);
    expect(s.pending).toBeGreaterThanOrEqual(1);
    expect(r.stderr).toContain(secret);
    expect(r.stderr).not.toMatch(/\n\s+at /);

    const plan = ok<PlanJson>(['conductor', 'plan', 'after EACCES', '--device', tree], cat, {
      asUser: NOBODY,
    });
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat, {
      asUser: NOBODY,
    });
    for (const a of show.actions) {
      expect(a.source).not.toBe(secret);
      expect(a.target).not.toBe(secret);
    }
    expect(show.actions.filter((a) => a.type === 'HARDLINK')).toHaveLength(1);

    const secretRow = row(cat, secret);
    expect(secretRow).toBeDefined();
    expect(secretRow!.prefix_hash).toBeNull();
    expect(secretRow!.sha256).toBeNull();
    expect(row(cat, join(tree, 'open-a.txt'))!.sha256).toBeInstanceOf(Buffer);
  });

  it('a directory readable but not searchable: its entries reported with EACCES, exit 1, no row lost', () => {
    const dir = workDir();
    chmodSync(dir, 0o755);
    const tree = join(dir, 'tree');
    const catDir = join(dir, 'catalog');
    mkdirSync(catDir);
    chownSync(catDir, NOBODY.uid, NOBODY.gid);
    const cat = join(catDir, 'c.db');
    const x = 'same content\n'.repeat(50);
    writeTree(tree, {
      'top.txt': x,
      'locked/inner-a.txt': x,
      'locked/inner-b.txt': 'other content\n'.repeat(50),
      'locked/sub/deep.txt': x,
    });
    for (const d of ['', 'locked', 'locked/sub']) chmodSync(join(tree, d), 0o755);
    const first = ok<ScanJson>(['scan', tree], cat, { asUser: NOBODY });
    expect(first.files).toBe(4);
    const paths = activePathSet(cat);
    const innerSha = row(cat, join(tree, 'locked/inner-a.txt'))!.sha256;
    expect(innerSha).toBeInstanceOf(Buffer);

    const locked = join(tree, 'locked');
    chmodSync(locked, 0o744); // nobody may list it but not reach anything in it
    const r = run(['scan', tree], cat, { asUser: NOBODY, timeoutMs: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const s = r.json<ScanJson>();
    expect(s.errors.length).toBeGreaterThan(0);
    for (const e of s.errors) {
      expect(e.path === locked || e.path.startsWith(locked + '/'), e.path).toBe(true);
      expect(e.error).toMatch(/EACCES/);
    }
    expect(s.deleted).toBe(0);
    expect(activePathSet(cat)).toEqual(paths);
    expect(row(cat, join(tree, 'locked/inner-a.txt'))!.sha256).toEqual(innerSha);

    // Readable again: everything is still there and unchanged.
    chmodSync(locked, 0o755);
    const again = ok<ScanJson>(['scan', tree], cat, { asUser: NOBODY });
    expect(again.unchanged).toBe(4);
    expect(again.new + again.deleted).toBe(0);
  });
});

describe('sizes', () => {
  it('empty files are never linked, even when --hash all gives them one SHA-256', () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    const empties = ['e1', 'e2', 'sub/e3', 'sub/e4', 'sub/deeper/e5'];
    writeTree(tree, {
      ...Object.fromEntries(empties.map((e) => [e, ''])),
      'x1.txt': 'duplicate',
      'sub/x2.txt': 'duplicate',
    });
    const s = ok<ScanJson>(['scan', tree, '--hash', 'all'], cat);
    expect(s.files).toBe(7);
    const a = ok<{ empty_files: number }>(['conductor', 'analyze', '--device', tree], cat);
    expect(a.empty_files).toBe(empties.length);
    const plan = ok<PlanJson>(['conductor', 'plan', 'with empties', '--device', tree], cat);
    expect(plan.actions.HARDLINK).toBe(1);
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
    const emptyPaths = new Set(empties.map((e) => join(tree, e)));
    for (const a of show.actions) {
      expect(emptyPaths.has(a.source), a.source).toBe(false);
      expect(emptyPaths.has(a.target), a.target).toBe(false);
    }
    const inodesBefore = empties.map((e) => ino(join(tree, e)));
    const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(e.executed).toBe(1);
    const inodesAfter = empties.map((e) => ino(join(tree, e)));
    expect(inodesAfter).toEqual(inodesBefore);
    expect(new Set(inodesAfter).size).toBe(empties.length);
    expect(ino(join(tree, 'x1.txt'))).toBe(ino(join(tree, 'sub/x2.txt')));
  });

  it('sparse files past 4 GiB: exact sizes, hashed beyond 2^32, duplicates linked, a near-twin not', () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    mkdirSync(tree);
    const SIZE = 4 * 2 ** 30 + 65_537; // past 2^32, not a multiple of the page size
    const AT = 2 ** 32 + 4096; // the only data lies beyond what 32 bits can address
    const make = (name: string, marker: string) => {
      const p = join(tree, name);
      execFileSync('truncate', ['-s', String(SIZE), p]);
      const fd = openSync(p, 'r+');
      writeSync(fd, Buffer.from(marker), 0, marker.length, AT);
      closeSync(fd);
      return p;
    };
    const markA = 'hashall past 4 GiB: A';
    const markB = 'hashall past 4 GiB: B'; // one byte apart, past 2^32
    const a = make('a.img', markA);
    const b = make('b.img', markA);
    const c = make('c.img', markB);
    const readAt = (p: string) => {
      const buf = Buffer.alloc(markA.length);
      const fd = openSync(p, 'r');
      readSync(fd, buf, 0, buf.length, AT);
      closeSync(fd);
      return buf.toString();
    };

    const s = ok<ScanJson>(['scan', tree], cat);
    expect(s.files).toBe(3);
    expect(s.errors).toEqual([]);
    expect(s.pending).toBe(0);
    for (const p of [a, b, c]) expect(row(cat, p)!.size).toBe(SIZE);
    expect(row(cat, a)!.sha256).toEqual(row(cat, b)!.sha256);
    expect(row(cat, a)!.sha256).not.toEqual(row(cat, c)!.sha256);
    const stats = ok<{ bytes: number; allocated_bytes: number; files: number }>(['stats'], cat);
    expect(stats.bytes).toBe(3 * SIZE);
    // Apparent and allocated sizes are both reported: these files occupy almost nothing.
    expect(stats.allocated_bytes).toBeGreaterThan(0);
    expect(stats.allocated_bytes).toBeLessThan(10 * 1024 * 1024);
    const devs = ok<{ devices: { bytes: number; files: number }[] }>(['devices'], cat);
    expect(devs.devices).toHaveLength(1);
    expect(devs.devices[0]!.bytes).toBe(3 * SIZE);

    const plan = ok<PlanJson>(['conductor', 'plan', 'sparse', '--device', tree], cat);
    expect(plan.actions.HARDLINK).toBe(1);
    expect(plan.bytes_saveable).toBe(SIZE);
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
    const link = show.actions.find((x) => x.type === 'HARDLINK')!;
    expect(new Set([link.source, link.target])).toEqual(new Set([a, b]));
    const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(e.executed).toBe(1);
    expect(e.failed).toBe(0);
    expect(e.bytes_saved).toBe(SIZE);

    expect(ino(a)).toBe(ino(b));
    expect(ino(c)).not.toBe(ino(a));
    for (const p of [a, b, c]) expect(statSync(p).size).toBe(SIZE);
    expect([a, b, c].map(readAt)).toEqual([markA, markA, markB]);
    expect(ok<{ bytes: number }>(['stats'], cat).bytes).toBe(2 * SIZE);
  }, 300_000);

  it('a file that grows while it is hashed gets no hash', () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    mkdirSync(tree);
    const growing = join(tree, 'growing.bin');
    const twin = join(tree, 'twin.bin');
    const chunk = createHash('sha512').update('seed').digest();
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < block.length; i += chunk.length) chunk.copy(block, i);
    for (const p of [growing, twin]) {
      const fd = openSync(p, 'w');
      for (let i = 0; i < 200; i++) writeSync(fd, block);
      closeSync(fd);
    }
    // The driver starts the scan, waits until the scan has the file open, then appends to it
    // until the scan ends: the append lands while the file is being hashed.
    const driver = `
import json, os, subprocess, sys, time
target = sys.argv[1]
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
fds = '/proc/%d/fd' % p.pid
appends = 0
opened = False
while p.poll() is None:
    if not opened:
        try:
            for fd in os.listdir(fds):
                try:
                    opened = opened or os.readlink(os.path.join(fds, fd)) == target
                except OSError:
                    pass
        except OSError:
            pass
        time.sleep(0.0002)
        continue
    with open(target, 'ab') as f:
        f.write(b'appended while hashing\\n')
    appends += 1
    time.sleep(0.001)
out, err = p.communicate()
json.dump({'code': p.returncode, 'stdout': out.decode(), 'stderr': err.decode(), 'appends': appends}, sys.stdout)
`;
    const d = spawnSync(
      'python3',
      [
        '-c',
        driver,
        growing,
        process.execPath,
        CLI,
        'scan',
        tree,
        '--catalog',
        cat,
        '--json',
        '--quiet',
        '--jobs',
        '1',
      ],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HASHALL_CATALOG: '' } },
    );
    expect(d.status, d.stderr).toBe(0);
    const res = JSON.parse(d.stdout) as {
      code: number;
      stdout: string;
      stderr: string;
      appends: number;
    };
    expect(res.appends, 'the writer appended while the scan had the file open').toBeGreaterThan(0);
    expect([0, 1], res.stderr).toContain(res.code);
    const s = JSON.parse(res.stdout) as ScanJson;
    expect(s.changed_while_hashing).toBeGreaterThanOrEqual(1);
    const r = row(cat, growing);
    expect(r).toBeDefined();
    expect(r!.sha256).toBeNull();
    expect(statSync(growing).size).toBeGreaterThan(200 << 20);
  });
});

describe('damaged catalogs', () => {
  /** A real catalog of a few thousand files, checkpointed, then garbage in its middle. */
  function damagedCatalog(): { tree: string; cat: string } {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++)
      files[`d${i % 30}/file-${i}.txt`] = `content ${i % 700}\n`.repeat(1 + (i % 7));
    writeTree(tree, files);
    ok<ScanJson>(['scan', tree], cat);
    const db = new Database(cat);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const size = statSync(cat).size;
    const at = Math.floor(size / 2 / 4096) * 4096 + 64;
    const garbage = Buffer.alloc(16_384);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 151 + 7) & 0xff;
    const fd = openSync(cat, 'r+');
    writeSync(fd, garbage, 0, garbage.length, at);
    closeSync(fd);
    const check = new Database(cat, { readonly: true });
    try {
      expect(check.pragma('quick_check', { simple: true })).not.toBe('ok');
    } finally {
      check.close();
    }
    return { tree, cat };
  }

  it('stats on a corrupted catalog: exit 2, one line, the file untouched', () => {
    const { cat } = damagedCatalog();
    const before = fileSha(cat);
    expectRefusal(hashall(['stats', '--catalog', cat, '--json']), /damaged|malformed/);
    expect(fileSha(cat)).toBe(before);
  });

  it('scan on a corrupted catalog: exit 2, one line; the catalog is neither replaced nor written after the damage is found', () => {
    // hashall does not read the whole catalog before every scan (that would cost ~0.4 s per
    // 100,000 files); `hashall stats --check` does. The rows a scan committed before it met
    // the damaged page stay (they are sound); once met, nothing more is written.
    const { tree, cat } = damagedCatalog();
    const size = statSync(cat).size;
    // Every file changed since: the scan reads every directory's rows (an unchanged directory
    // is merged by its listing fingerprint alone, without reading them).
    const later = new Date(Date.now() + 60_000);
    for (const d of readdirSync(tree)) {
      for (const f of readdirSync(join(tree, d))) utimesSync(join(tree, d, f), later, later);
    }
    expectRefusal(hashall(['scan', tree, '--catalog', cat, '--json']), /damaged|malformed/);
    expect(statSync(cat).size).toBeGreaterThanOrEqual(size);
    const check = hashall(['stats', '--check', '--catalog', cat]);
    expect(check.code).toBe(2);
    expect(check.stderr).toMatch(/hashall: error: .*damaged/);
  });
});

describe('command-line input', () => {
  /** A scanned tree with one duplicate pair and plan 1. */
  function withPlan(): { dir: string; tree: string; cat: string } {
    const dir = workDir();
    const tree = join(dir, 'tree');
    const cat = join(dir, 'c.db');
    writeTree(tree, { 'a.txt': 'same content', 'b.txt': 'same content' });
    ok<ScanJson>(['scan', tree], cat);
    expect(ok<PlanJson>(['conductor', 'plan', 'the only plan'], cat).id).toBe(1);
    return { dir, tree, cat };
  }

  /** Run each argument list against the catalog; every refusal's problems, collected. */
  function refusals(cat: string, cases: string[][], pattern: RegExp): string[] {
    return cases.flatMap((args) => refusalProblems(args.join(' '), run(args, cat), pattern));
  }

  it('unknown, non-numeric and negative plan ids', () => {
    const { tree, cat } = withPlan();
    const before = fileSha(cat);
    const ids = ['999', 'abc', '-1', '0', '1.5', '1e3', '99999999999999999999'];
    const problems = refusals(
      cat,
      ids.flatMap((id) => [
        ['conductor', 'show-plan', id],
        ['conductor', 'execute', id, '--force'],
        ['conductor', 'execute', id, '--dry-run'],
      ]),
      /plan|id/i,
    );
    expect(problems).toEqual([]);
    expectRefusal(run(['conductor', 'show-plan', '999'], cat), /no plan with id 999/);
    expectRefusal(run(['conductor', 'execute', '999', '--force'], cat), /no plan with id 999/);
    expect(fileSha(cat)).toBe(before);
    expect(ino(join(tree, 'a.txt'))).not.toBe(ino(join(tree, 'b.txt')));
  });

  it('--limit -1, 1e99, abc and an empty --limit on show-plan and analyze', () => {
    const { cat } = withPlan();
    const problems = refusals(
      cat,
      ['-1', '1e99', 'abc', '1.5', ''].flatMap((v) => [
        ['conductor', 'show-plan', '1', '--limit', v],
        ['conductor', 'analyze', '--limit', v],
      ]),
      /limit/,
    );
    expect(problems).toEqual([]);
  });

  it('--jobs 0, --jobs 10000 and --hash foo on scan', () => {
    const { tree, cat } = withPlan();
    const before = fileSha(cat);
    const problems = [
      ...refusals(
        cat,
        ['0', '10000', '-1', 'abc', '1.5'].map((v) => ['scan', tree, '--jobs', v]),
        /jobs/,
      ),
      ...refusals(
        cat,
        ['foo', '', 'ALL'].map((v) => ['scan', tree, '--hash', v]),
        /hash/,
      ),
    ];
    expect(problems).toEqual([]);
    expect(fileSha(cat)).toBe(before);
  });

  it('--keep nonsense on conductor plan', () => {
    const { cat } = withPlan();
    const problems = refusals(
      cat,
      ['nonsense', ''].map((v) => ['conductor', 'plan', 'kept', '--keep', v]),
      /keep/,
    );
    expect(problems).toEqual([]);
    expect(ok<{ plans: unknown[] }>(['conductor', 'plans'], cat).plans).toHaveLength(1);
  });

  it('--device /does/not/exist on analyze, plan and status', () => {
    const { cat } = withPlan();
    const before = fileSha(cat);
    for (const args of [
      ['conductor', 'analyze'],
      ['conductor', 'plan', 'nowhere'],
      ['conductor', 'status'],
    ]) {
      expectRefusal(
        run([...args, '--device', '/does/not/exist'], cat),
        /\/does\/not\/exist.*ENOENT/,
      );
    }
    expect(ok<{ plans: unknown[] }>(['conductor', 'plans'], cat).plans).toHaveLength(1);
    expect(fileSha(cat)).toBe(before);
  });

  it('--catalog pointing at a directory', () => {
    const { dir, tree } = withPlan();
    const catDir = join(dir, 'a-directory');
    mkdirSync(catDir);
    for (const args of [
      ['scan', tree],
      ['stats'],
      ['devices'],
      ['conductor', 'analyze'],
      ['conductor', 'plan', 'x'],
      ['conductor', 'show-plan', '1'],
      ['conductor', 'execute', '1', '--force'],
    ]) {
      expectRefusal(run(args, catDir), /is a directory/);
    }
    expectRefusal(
      hashall(['stats', '--json'], { env: { HASHALL_CATALOG: catDir } }),
      /is a directory/,
    );
  });
});

describe('a catalog locked by another process', () => {
  it('waits HASHALL_BUSY_TIMEOUT seconds, then exits 2 with one line, the file untouched', async () => {
    const dir = workDir();
    const tree = join(dir, 'tree');
    writeTree(tree, { 'a.txt': 'same', 'b.txt': 'same' });
    const cat = join(dir, 'c.db');
    ok<ScanJson>(['scan', tree], cat);
    const holder = spawn(
      'python3',
      [
        '-c',
        `import sqlite3,time,sys\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\ntime.sleep(30)`,
        cat,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.on('exit', () => reject(new Error('the lock holder exited early')));
      });
      const before = fileSha(cat);
      const started = Date.now();
      const r = hashall(['scan', tree, '--catalog', cat], { env: { HASHALL_BUSY_TIMEOUT: '1' } });
      expect(Date.now() - started).toBeLessThan(15_000);
      expectRefusal(r, /locked by another process/);
      expect(fileSha(cat)).toBe(before);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
