import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  mkdirSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import { countRows as countSqliteRows } from '../helpers/catalog.js';
import {
  CLI_BACKENDS,
  activePaths,
  countRows,
  hardlinkSaving,
  waitForRows,
  type CliBackend,
} from '../helpers/cli-backends.js';
import {
  findFiles,
  mktree,
  removeTree,
  sh,
  tempDir,
  writeTree,
  type MktreeSummary,
} from '../helpers/fs.js';

interface ScanJson {
  files: number;
  new: number;
  changed: number;
  unchanged: number;
  moved: number;
  deleted: number;
  hashed_files: number;
  hashed_bytes: number;
  skipped: Record<string, number>;
  pruned: Record<string, number>;
  errors: { path: string; path_b64?: string; error: string }[];
  pending: number;
  interrupted: boolean;
}

function scan(cat: string, ...args: string[]) {
  const r = hashall(['scan', ...args, '--catalog', cat, '--json']);
  return {
    r,
    s: r.code === 0 || r.code === 1 || r.code === 130 ? r.json<ScanJson>() : (undefined as never),
  };
}

const key = (b: Buffer) => b.toString('latin1');

/**
 * The suites that say nothing about how a catalog is stored run on both backends (SQLite and
 * PostgreSQL); what they check is read straight from the catalog the CLI wrote.
 */
describe.each(CLI_BACKENDS)('scan on $name', (b: CliBackend) => {
  beforeAll(async () => {
    if (!b.unavailable) await b.setup();
  });
  afterAll(() => b.teardown());
  describe.skipIf(b.unavailable !== undefined)('scan on a mktree --tricky tree', () => {
    let dir: string;
    let tree: string;
    let cat: string;
    let summary: MktreeSummary;
    let first: ScanJson;

    beforeAll(async () => {
      dir = tempDir();
      tree = join(dir, 'tree');
      cat = await b.catalog(dir, 'catalog');
      summary = mktree(tree, ['--files', '3000', '--total-mb', '60', '--seed', '7', '--tricky']);
      const { r, s } = scan(cat, tree);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      first = s;
    });
    afterAll(() => removeTree(dir));

    it('catalogues every regular file, byte-identical names included, and nothing else', async () => {
      expect(first.files).toBe(summary.regular_file_paths);
      expect(first.new).toBe(summary.regular_file_paths);
      const root = realpathSync(tree);
      const expected = new Set(
        findFiles(tree).map((p) => key(Buffer.concat([Buffer.from(root + '/'), p]))),
      );
      const got = (await activePaths(b, cat)).map(key);
      expect(got.length).toBe(expected.size);
      expect(new Set(got)).toEqual(expected);
      // The hostile names really are there, as bytes.
      expect(got.some((p) => p.endsWith('caf\xe9.txt'))).toBe(true);
      expect(got.some((p) => p.includes('\n'))).toBe(true);
      expect(got.some((p) => p.length > 4096)).toBe(true);
    });

    it('counts FIFOs and symlinks without opening them', () => {
      expect(first.skipped.fifo).toBe(3);
      expect(first.skipped.symlink).toBeGreaterThanOrEqual(8);
    });

    it('supports exactly the duplicate figures mktree computed', async () => {
      expect(await hardlinkSaving(b, cat)).toBe(summary.hardlink_dedupe_saving_bytes);
    });

    it('hashes only candidates: files whose size is unique stay unhashed', async () => {
      const unique = await countRows(
        b,
        cat,
        `status = 'active' AND sha256 IS NOT NULL AND size > 0
       AND NOT EXISTS (SELECT 1 FROM files g WHERE g.size = files.size AND g.inode != files.inode AND g.status = 'active')`,
      );
      expect(unique).toBe(0);
      expect(first.hashed_files).toBeLessThan(summary.distinct_inodes);
      expect(first.hashed_files).toBeGreaterThan(0);
    });

    it('rescans an unchanged tree without reading any file', () => {
      const { r, s } = scan(cat, tree);
      expect(r.code).toBe(0);
      expect(s.unchanged).toBe(summary.regular_file_paths);
      expect(s.new + s.changed + s.moved + s.deleted).toBe(0);
      expect(s.hashed_files).toBe(0);
      expect(s.hashed_bytes).toBe(0);
    });

    it('--hash all gives every regular file a SHA-256', async () => {
      const all = await b.catalog(dir, 'all');
      const { r } = scan(all, tree, '--hash', 'all');
      expect(r.code).toBe(0);
      expect(await countRows(b, all, "status = 'active' AND sha256 IS NULL")).toBe(0);
      expect(await hardlinkSaving(b, all)).toBe(summary.hardlink_dedupe_saving_bytes);
    });

    it('does not hang on a FIFO named like a movie, even with --hash all and one job', async () => {
      const fifoCatalog = await b.catalog(dir, 'fifo');
      const r = hashall(
        [
          'scan',
          join(tree, 'tricky'),
          '--hash',
          'all',
          '--jobs',
          '1',
          '--catalog',
          fifoCatalog,
          '--json',
        ],
        {
          timeoutMs: 60_000,
        },
      );
      expect(r.signal).toBeNull();
      expect(r.json<ScanJson>().skipped.fifo).toBe(3);
    });
  });

  describe.skipIf(b.unavailable !== undefined)('incremental rescans on a hand-made tree', () => {
    let dir: string;
    let tree: string;
    let cat: string;
    beforeAll(async () => {
      dir = tempDir();
      tree = join(dir, 't');
      cat = await b.catalog(dir);
      const base = 'x'.repeat(5000);
      writeTree(tree, {
        'a/one.bin': base,
        'a/two.bin': base,
        'b/three.bin': base + '!', // same size as four, different content
        'b/four.bin': base + '?',
        'b/unique.txt': 'only one of its size',
        'a_b/f.txt': 'in a_b',
        'axb/f.txt': 'in axb',
        'axb/g.txt': 'also in axb',
        'keep/k1.txt': 'k1',
      });
      expect(scan(cat, tree).r.code).toBe(0);
    });
    afterAll(() => removeTree(dir));

    it('append to a file: exactly one changed, and it is rehashed', () => {
      appendFileSync(join(tree, 'a/one.bin'), '!');
      const { r, s } = scan(cat, tree);
      expect(r.code).toBe(0);
      expect(s.changed).toBe(1);
      expect(s.new + s.moved + s.deleted).toBe(0);
      // one.bin now has the size of three/four: only it needs reading.
      expect(s.hashed_files).toBe(1);
      expect(s.hashed_bytes).toBe(5001);
    });

    it('rename: one moved, nothing rehashed, nothing deleted', async () => {
      mkdirSync(join(tree, 'c'));
      renameSync(join(tree, 'a/two.bin'), join(tree, 'c/two-renamed.bin'));
      const { s } = scan(cat, tree);
      expect(s.moved).toBe(1);
      expect(s.new).toBe(0);
      expect(s.deleted).toBe(0);
      expect(s.hashed_files).toBe(0);
      const rows = await b.query<{ path: Buffer; sha256: Buffer | null }>(
        cat,
        `SELECT path, sha256 FROM file_paths WHERE status = 'active'`,
      );
      const renamed = rows.find((r) => r.path.toString().endsWith('/c/two-renamed.bin'));
      expect(renamed?.sha256).toBeInstanceOf(Buffer);
    });

    it('rename next to a new file of the same size: only the new file is read, the moved one keeps its hashes', async () => {
      const moved = join(tree, 'c/two-renamed.bin');
      mkdirSync(join(tree, 'd'));
      renameSync(moved, join(tree, 'd/two-again.bin'));
      writeFileSync(join(tree, 'd/new-twin.bin'), 'y'.repeat(5000));
      const { s } = scan(cat, tree);
      expect(s.moved).toBe(1);
      expect(s.new).toBe(1);
      expect(s.hashed_files).toBe(1);
      expect(s.hashed_bytes).toBe(5000);
      const rows = await b.query<{ path: Buffer; sha256: Buffer | null }>(
        cat,
        `SELECT path, sha256 FROM file_paths WHERE status = 'active' AND size = 5000`,
      );
      expect(rows.map((r) => r.path.toString().split('/').pop()).sort()).toEqual([
        'new-twin.bin',
        'two-again.bin',
      ]);
      for (const r of rows) expect(r.sha256).toBeInstanceOf(Buffer);
      unlinkSync(join(tree, 'd/new-twin.bin'));
      expect(scan(cat, tree).s.deleted).toBe(1);
    });

    it('a size shared only with a file of an earlier scan of another root: both are hashed', async () => {
      const other = join(dir, 'other');
      writeTree(other, { 'o.txt': 'only one of its size' + '.'.repeat(7) });
      writeTree(join(dir, 'third'), { 'p.txt': 'only one of its size' + ','.repeat(7) });
      expect(scan(cat, other).s.hashed_files).toBe(0);
      const { s } = scan(cat, join(dir, 'third'));
      expect(s.hashed_files).toBe(2);
      expect(await countRows(b, cat, 'size = 27 AND sha256 IS NOT NULL')).toBe(2);
    });

    it('delete: one deleted', () => {
      unlinkSync(join(tree, 'b/unique.txt'));
      const { s } = scan(cat, tree);
      expect(s.deleted).toBe(1);
      expect(s.new + s.changed + s.moved).toBe(0);
    });

    it('a scan of a subdirectory never marks rows outside it deleted (a_b vs axb)', async () => {
      unlinkSync(join(tree, 'axb/g.txt'));
      const before = await countRows(b, cat);
      const { s } = scan(cat, join(tree, 'a_b'));
      expect(s.files).toBe(1);
      expect(s.deleted).toBe(0);
      expect(await countRows(b, cat)).toBe(before);
      const { s: s2 } = scan(cat, tree);
      expect(s2.deleted).toBe(1);
    });

    it('a vanished directory takes its files with it, and a file that became a FIFO is no longer a file', () => {
      removeTree(join(tree, 'keep'));
      const { s } = scan(cat, tree);
      expect(s.deleted).toBe(1);
      unlinkSync(join(tree, 'a_b/f.txt'));
      sh('mkfifo', [join(tree, 'a_b/f.txt')]);
      const { s: s2 } = scan(cat, tree);
      expect(s2.deleted).toBe(1);
      expect(s2.skipped.fifo).toBe(1);
    });

    it('--exclude prunes by name and by path, and keeps the rows it did not look at', async () => {
      const before = await countRows(b, cat);
      const { s } = scan(cat, tree, '--exclude', '*.bin', '--exclude', 'axb/**');
      expect(s.pruned.excluded).toBeGreaterThanOrEqual(4);
      expect(s.files).toBe(0);
      expect(s.deleted).toBe(0);
      expect(await countRows(b, cat)).toBe(before);
    });
  });

  describe.skipIf(b.unavailable !== undefined)('Ctrl-C', () => {
    let dir: string;
    afterAll(() => removeTree(dir));

    it('commits what was seen, marks nothing deleted, exits 130', async () => {
      dir = tempDir();
      const tree = join(dir, 'tree');
      const files: Record<string, string> = {};
      for (let i = 0; i < 400; i++) files[`d${String(i).padStart(3, '0')}/f.txt`] = `file ${i}`;
      writeTree(tree, files);
      const cat = await b.catalog(dir);
      expect(scan(cat, tree).r.code).toBe(0);
      for (let i = 0; i < 400; i += 2)
        unlinkSync(join(tree, `d${String(i).padStart(3, '0')}/f.txt`));
      writeFileSync(join(tree, 'new.txt'), 'new');
      const { spawn } = await import('node:child_process');
      const { CLI } = await import('../helpers/cli.js');
      const child = spawn(process.execPath, [CLI, 'scan', tree, '--catalog', cat, '--json'], {
        env: {
          ...process.env,
          HASHALL_CATALOG: '',
          HASHALL_FAILPOINT_DELAY: 'scan-dir=10',
          HASHALL_FAILPOINT_FLAGS: 'scan-small-commits',
        },
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      // Interrupt once the new scan has committed part of its walk.
      await waitForRows(
        b,
        cat,
        `SELECT count(*) AS n FROM dirs WHERE last_listed_scan = (SELECT max(id) FROM scans WHERE status = 'running')`,
      );
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      expect(code).toBe(130);
      const s = JSON.parse(out) as ScanJson;
      expect(s.interrupted).toBe(true);
      expect(s.deleted).toBe(0);
      expect(s.files).toBeGreaterThan(0);
      expect(s.files).toBeLessThan(201);
      expect(await countRows(b, cat, "status = 'deleted'")).toBe(0); // nothing marked deleted
      const { s: again } = scan(cat, tree);
      expect(again.deleted).toBe(200);
    });
  });
});

describe('unreadable directories (as an unprivileged user)', () => {
  let dir: string;
  afterAll(() => removeTree(dir));

  it('reports the directory with its reason, keeps its rows, exits 1', () => {
    dir = tempDir();
    chmodSync(dir, 0o755);
    const tree = join(dir, 'tree');
    writeTree(tree, { 'open/a.txt': 'same', 'locked/b.txt': 'same', 'locked/deeper/c.txt': 'c' });
    const cat = join(dir, 'cat', 'c.db');
    mkdirSync(join(dir, 'cat'));
    for (const p of [
      tree,
      join(tree, 'open'),
      join(tree, 'locked'),
      join(tree, 'locked/deeper'),
      join(dir, 'cat'),
    ]) {
      chownSync(p, 65534, 65534);
    }
    for (const f of ['open/a.txt', 'locked/b.txt', 'locked/deeper/c.txt'])
      chownSync(join(tree, f), 65534, 65534);
    const nobody = { uid: 65534, gid: 65534 };
    const first = hashall(['scan', tree, '--catalog', cat, '--json'], { asUser: nobody });
    expect(first.code).toBe(0);
    expect(first.json<ScanJson>().files).toBe(3);
    chmodSync(join(tree, 'locked'), 0o000);
    const r = hashall(['scan', tree, '--catalog', cat, '--json'], { asUser: nobody });
    expect(r.code).toBe(1);
    const s = r.json<ScanJson>();
    expect(s.deleted).toBe(0);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]!.path).toBe(join(realpathSync(tree), 'locked'));
    expect(s.errors[0]!.error).toMatch(/EACCES/);
    expect(r.stderr).toMatch(/warning: .*locked: EACCES/);
    expect(countSqliteRows(cat)).toBe(3);
    chmodSync(join(tree, 'locked'), 0o755);
  });
});
