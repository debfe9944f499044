/**
 * A device's first scan into a nearly empty catalog builds the size and hash indexes after its
 * walk (src/catalog/deferred-indexes.ts). What must hold: the finished catalog has exactly the
 * indexes the migrations define; a first scan killed with them dropped leaves a sound catalog
 * that the next command (even a read-only one) repairs, and the next scan converges to what a
 * fresh scan records; a rescan, or a first scan into a catalog that already holds many rows,
 * keeps its indexes throughout. Real trees, the real CLI, real catalogs.
 */
import Database from 'better-sqlite3';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFER_BELOW_ROWS,
  DEFERRED_INDEXES,
  restoreDeferredIndexes,
} from '../../src/catalog/deferred-indexes.js';
import { openCatalog } from '../../src/catalog/open.js';
import { hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { killAt, leftBehind } from '../helpers/kill-at.js';

/** name → SQL of every index on files (the automatic unique index has no SQL). */
function fileIndexes(cat: string): Map<string, string | null> {
  const db = new Database(cat, { readonly: true });
  try {
    const rows = db
      .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files'`)
      .all() as { name: string; sql: string | null }[];
    return new Map(rows.map((r) => [r.name, r.sql]));
  } finally {
    db.close();
  }
}

/** Active rows as path → inode:size:sha256, straight from the catalog. */
function view(cat: string): Map<string, string> {
  const db = new Database(cat, { readonly: true });
  try {
    const rows = db
      .prepare(`SELECT path, inode, size, sha256 FROM file_paths WHERE status = 'active'`)
      .all() as { path: Buffer; inode: number; size: number; sha256: Buffer | null }[];
    return new Map(
      rows.map((r) => [
        r.path.toString('latin1'),
        `${r.inode}:${r.size}:${r.sha256?.toString('hex') ?? '-'}`,
      ]),
    );
  } finally {
    db.close();
  }
}

function run(args: string[], cat: string) {
  return hashall([...args, '--catalog', cat, '--json']);
}

const saveable = (cat: string) =>
  run(['conductor', 'analyze'], cat).json<{ same_device: { bytes_saveable: number } }>().same_device
    .bytes_saveable;

describe('indexes deferred by a first scan', () => {
  let dir: string;
  let tree: string;
  let fresh: string;
  let freshIndexes: Map<string, string | null>;
  beforeEach(() => {
    dir = realpathSync(tempDir('hashall-defer-'));
    tree = join(dir, 'tree');
    mktree(tree, ['--files', '1200', '--total-mb', '30', '--seed', '21']);
    // The indexes as the migrations alone create them: a catalog no scan has written to.
    fresh = join(dir, 'fresh.db');
    openCatalog(fresh).db.close();
    freshIndexes = fileIndexes(fresh);
  });
  afterEach(() => removeTree(dir));

  it('defers exactly the indexes the migrations define, with their exact definitions', () => {
    for (const ix of DEFERRED_INDEXES) expect(freshIndexes.get(ix.name)).toBe(ix.sql);
  });

  it('a finished first scan leaves every index as the migrations define it', () => {
    expect(run(['scan', tree], fresh).code).toBe(0);
    expect(fileIndexes(fresh)).toEqual(freshIndexes);
    expect(leftBehind(fresh).integrity).toBe('ok');
  });

  it('a first scan killed mid-walk: sound catalog, a read-only command repairs it, the next scan converges', () => {
    const cat = join(dir, 'c.db');
    killAt(['scan', tree, '--catalog', cat, '-q'], {
      point: 'scan-walk-commit',
      after: 5,
      env: { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
    });
    expect(leftBehind(cat).integrity).toBe('ok');
    expect(view(cat).size).toBeGreaterThan(0);
    // It was killed while they were deferred: committed rows, none of the four indexes.
    const left = fileIndexes(cat);
    for (const ix of DEFERRED_INDEXES) expect(left.has(ix.name)).toBe(false);

    // A read-only command opens it and builds them (its queries name them: INDEXED BY).
    const dupes = run(['dupes'], cat);
    expect(dupes.code, dupes.stderr).toBe(0);
    expect(fileIndexes(cat)).toEqual(freshIndexes);

    const again = run(['scan', tree], cat);
    expect(again.code, again.stderr).toBe(0);
    expect(fileIndexes(cat)).toEqual(freshIndexes);
    expect(leftBehind(cat).integrity).toBe('ok');
    expect(run(['scan', tree], fresh).code).toBe(0);
    expect(view(cat)).toEqual(view(fresh));
    expect(saveable(cat)).toBe(saveable(fresh));
  });

  it('a first scan killed mid-walk: the next scan alone repairs and converges', () => {
    const cat = join(dir, 'c.db');
    killAt(['scan', tree, '--catalog', cat, '-q'], {
      point: 'scan-walk-commit',
      after: 3,
      env: { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
    });
    expect(fileIndexes(cat).has('files_hashed')).toBe(false);
    const again = run(['scan', tree], cat);
    expect(again.code, again.stderr).toBe(0);
    expect(fileIndexes(cat)).toEqual(freshIndexes);
    expect(run(['scan', tree], fresh).code).toBe(0);
    expect(view(cat)).toEqual(view(fresh));
    expect(saveable(cat)).toBe(saveable(fresh));
  });

  // The indexes are built when the walk ends, while the workers still read its last batches
  // (root-scan.ts, walkDone): the rows of those results are written after the build.
  for (const commits of ['batched', 'small'] as const) {
    it(`a first scan killed after the build at the walk's end, its last hashes unwritten (${commits} commits)`, () => {
      const cat = join(dir, 'c.db');
      const env: Record<string, string> =
        commits === 'small' ? { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' } : {};
      killAt(['scan', tree, '--hash', 'all', '--catalog', cat, '-q'], {
        point: 'scan-walk-done',
        env,
      });
      expect(leftBehind(cat).integrity).toBe('ok');
      expect(run(['scan', tree, '--hash', 'all'], fresh).code).toBe(0);
      // Killed before the rows of its last results were written.
      expect(view(cat).size).toBeLessThan(view(fresh).size);
      // Built and committed when no transaction was open (small commits: each directory
      // commits), or rolled back with the walk's open one (batched, unless the commit policy's
      // clock ended it after the last directory): every deferred index or none, never a part.
      const left = fileIndexes(cat);
      const built = DEFERRED_INDEXES.filter((ix) => left.get(ix.name) === ix.sql).length;
      if (commits === 'small') expect(built).toBe(DEFERRED_INDEXES.length);
      else expect([0, DEFERRED_INDEXES.length]).toContain(built);

      const again = run(['scan', tree, '--hash', 'all'], cat);
      expect(again.code, again.stderr).toBe(0);
      expect(fileIndexes(cat)).toEqual(freshIndexes);
      expect(leftBehind(cat).integrity).toBe('ok');
      expect(view(cat)).toEqual(view(fresh));
      expect(saveable(cat)).toBe(saveable(fresh));
    });
  }

  it('a rescan keeps its indexes throughout (killed mid-walk, they are all there)', () => {
    const cat = join(dir, 'c.db');
    expect(run(['scan', tree], cat).code).toBe(0);
    writeTree(tree, { 'new-a/x.bin': 'x'.repeat(5000), 'new-b/y.bin': 'y'.repeat(5000) });
    killAt(['scan', tree, '--catalog', cat, '-q'], {
      point: 'scan-walk-commit',
      after: 3,
      env: { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
    });
    expect(fileIndexes(cat)).toEqual(freshIndexes);
  });
});

describe('the row threshold', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(tempDir('hashall-defer-port-'));
  });
  afterEach(() => removeTree(dir));

  /** A catalog whose device 'full' holds `rows` file rows; which indexes a first scan of another
   *  device drops when it opens its tree (the first scan finished, or still running). */
  async function deferredWith(rows: number, first: 'finished' | 'running'): Promise<string[]> {
    const c = openCatalog(join(dir, `c${rows}.db`));
    try {
      const sighting = (id: string) => ({
        identity: `test:${id}`,
        stable: true,
        fsType: 'test',
        stDev: 7n,
        mountPoint: Buffer.from(join(dir, id)),
        mountRoot: Buffer.from('/'),
      });
      const owner = { pid: process.pid, startTime: '0' };
      const full = await c.devices.register(sighting('full'));
      const scanId = await c.scans.start({ root: Buffer.from(dir), owner });
      await c.scans.setRoot({ scanId, deviceId: full.id, fsPath: Buffer.from('/') });
      const t = await c.tree.open(scanId);
      await c.unitOfWork(async () => {
        const m = await t.mergeListing({
          deviceId: full.id,
          fsPath: Buffer.from('/'),
          parentDirId: undefined,
          files: [],
          subdirs: [],
          kept: [],
          moves: 'none',
        });
        const meta = {
          nlink: 1,
          size: 10n,
          mtimeNs: 1n,
          ctimeNs: 1n,
          mode: 0o100644,
          uid: 0,
          gid: 0,
          blocks: 8,
        };
        await t.insertFiles(
          Array.from({ length: rows }, (_, i) => ({
            deviceId: full.id,
            dirId: m.dirId,
            name: Buffer.from(`f${i}`),
            meta: { ...meta, inode: BigInt(i + 1) },
            hashes: undefined,
          })),
        );
        await t.applyDeletions();
      });
      if (first === 'finished') await c.scans.finish({ scanId, status: 'completed', summary: {} });
      const other = await c.devices.register(sighting('other'));
      const second = await c.scans.start({ root: Buffer.from(dir), owner });
      await c.scans.setRoot({ scanId: second, deviceId: other.id, fsPath: Buffer.from('/') });
      await c.tree.open(second);
      return DEFERRED_INDEXES.filter(
        (ix) =>
          c.db.prepare(`SELECT 1 FROM sqlite_master WHERE name = ?`).get(ix.name) === undefined,
      ).map((ix) => ix.name);
    } finally {
      c.db.close();
    }
  }

  const whenFew = DEFERRED_INDEXES.filter((ix) => ix.when === 'few file rows').map((ix) => ix.name);

  it(`a device's first scan defers below ${DEFER_BELOW_ROWS} rows in the catalog, not at it`, async () => {
    expect(whenFew).toHaveLength(4);
    expect(await deferredWith(DEFER_BELOW_ROWS - 1, 'finished')).toEqual(whenFew);
    expect(await deferredWith(DEFER_BELOW_ROWS, 'finished')).toEqual([]);
  });

  it("files_inode only in a catalog without file rows (the walk probes other devices' inodes through it)", async () => {
    expect(await deferredWith(1, 'finished')).toEqual(whenFew);
    expect(await deferredWith(0, 'finished')).toEqual(DEFERRED_INDEXES.map((ix) => ix.name));
    expect(DEFERRED_INDEXES.map((ix) => ix.name)).toContain('files_inode');
  });

  it('not while another scan is running (its hash stages query through these indexes)', async () => {
    expect(await deferredWith(10, 'running')).toEqual([]);
  });
});

describe('a row inserted by another scan in between', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(tempDir('hashall-insert-race-'));
  });
  afterEach(() => removeTree(dir));

  it("a file merged as new and inserted after another scan's commit gets that scan's row", async () => {
    // Two connections, as two `hashall scan` processes of overlapping roots: X merges the
    // directory (f has no row) and hands f to its hashing; Y merges and inserts f and commits;
    // X inserts f with its hashes in a later transaction.
    const path = join(dir, 'c.db');
    const x = openCatalog(path);
    const y = openCatalog(path);
    try {
      const sighting = {
        identity: 'test:race',
        stable: true,
        fsType: 'test',
        stDev: 7n,
        mountPoint: Buffer.from(dir),
        mountRoot: Buffer.from('/'),
      };
      const owner = { pid: process.pid, startTime: '0' };
      const meta = {
        inode: 42n,
        nlink: 1,
        size: 10n,
        mtimeNs: 1n,
        ctimeNs: 1n,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        blocks: 8,
      };
      const name = Buffer.from('f');
      const listing = (deviceId: number) => ({
        deviceId,
        fsPath: Buffer.from('/'),
        parentDirId: undefined,
        files: [{ name, meta }],
        subdirs: [],
        kept: [],
        moves: 'probe' as const,
      });
      const dev = await x.devices.register(sighting);
      const open = async (c: typeof x) => {
        const scanId = await c.scans.start({ root: Buffer.from(dir), owner });
        await c.scans.setRoot({ scanId, deviceId: dev.id, fsPath: Buffer.from('/') });
        return c.tree.open(scanId);
      };
      const tx = await open(x);
      const ty = await open(y);
      const mx = await x.unitOfWork(() => tx.mergeListing(listing(dev.id)));
      expect(mx.fresh).toHaveLength(1);
      const [yId] = await y.unitOfWork(async () => {
        const my = await ty.mergeListing(listing(dev.id));
        return ty.insertFiles([
          { deviceId: dev.id, dirId: my.dirId, name, meta, hashes: undefined },
        ]);
      });
      const hashes = { prefix: Buffer.alloc(32, 1), sha256: Buffer.alloc(32, 2) };
      const [xId] = await x.unitOfWork(() =>
        tx.insertFiles([{ deviceId: dev.id, dirId: mx.dirId, name, meta, hashes }]),
      );
      expect(xId).toBe(yId);
      expect(x.db.prepare('SELECT count(*) AS n FROM files').get()).toEqual({ n: 1 });
    } finally {
      x.db.close();
      y.db.close();
    }
  });
});

describe('the sort helpers and the smaller page cache of an index build', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(tempDir('hashall-defer-threads-'));
  });
  afterEach(() => removeTree(dir));

  /** A catalog lacking files_hashed, as a first scan leaves it mid-walk. */
  function withoutHashedIndex(): string {
    const cat = join(dir, 'c.db');
    const c = openCatalog(cat);
    c.db.exec('DROP INDEX files_hashed');
    c.db.close();
    return cat;
  }

  it('are lent to the build only: the connection has none after it, and its own cache', () => {
    const db = new Database(withoutHashedIndex());
    try {
      // Not SQLite's default, nor the build's: the connection's own setting comes back.
      db.pragma('cache_size = -12345');
      expect(db.pragma('threads', { simple: true })).toBe(0);
      expect(restoreDeferredIndexes(db)).toBe(1);
      expect(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'files_hashed'`).get()).toEqual({
        1: 1,
      });
      expect(db.pragma('threads', { simple: true })).toBe(0);
      expect(db.pragma('cache_size', { simple: true })).toBe(-12345);
    } finally {
      db.close();
    }
  });

  it('nor after a build that failed', () => {
    const db = new Database(withoutHashedIndex(), { readonly: true });
    try {
      db.pragma('cache_size = -12345');
      expect(() => restoreDeferredIndexes(db)).toThrow(/readonly/i);
      expect(db.pragma('threads', { simple: true })).toBe(0);
      expect(db.pragma('cache_size', { simple: true })).toBe(-12345);
    } finally {
      db.close();
    }
  });
});
