/**
 * A real scan (runScan, the module the CLI calls) through the PostgreSQL scan port builds the
 * same catalog as through SQLite: the same tree (hostile names from mktree --tricky, hardlinks,
 * duplicates, nested directories) scanned into both, then changed (a file renamed into
 * another directory, a directory removed, a file grown, a duplicate added) and scanned again.
 * Every file and directory row is compared, bytes for bytes, as are the scan summaries.
 */
import {
  appendFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Types from src, the scanner from dist: its hash pool starts the compiled hash-worker.js.
import type * as ScannerMod from '../../src/scan/scanner.js';
import type { ScanSummary } from '../../src/scan/scanner.js';
import type * as WalkerMod from '../../src/scan/walker.js';
import { mktree, removeTree, tempDir, writeTree } from '../helpers/fs.js';
import type { ListedFile } from '../../src/catalog/scan-port.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgScanOps } from '../../src/catalog/pg/scan.js';
import { pgBackend, pgTestCluster, sqliteBackend, type Opened } from '../helpers/scan-backends.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { toMeta } = (await import(dist('scan/walker.js'))) as typeof WalkerMod;
const { runScan } = (await import(dist('scan/scanner.js'))) as typeof ScannerMod;

/** What two backends must agree on: the counts of a scan, not its timing or ids. */
function counts(s: ScanSummary): Record<string, unknown> {
  return {
    files: s.files,
    dirs: s.dirs,
    new: s.new,
    changed: s.changed,
    unchanged: s.unchanged,
    moved: s.moved,
    deleted: s.deleted,
    hashedFiles: s.hashedFiles,
    hashedBytes: s.hashedBytes,
    skipped: s.skipped,
    errorCount: s.errorCount,
    pending: s.pending,
    interrupted: s.interrupted,
  };
}

describe.skipIf(pgBackend.unavailable)('a scan through the PostgreSQL port', () => {
  let dir: string;
  let root: string;
  let sqlite: Opened;
  let pg: Opened;

  beforeAll(async () => {
    await pgBackend.setup();
    dir = realpathSync(tempDir('hashall-pg-scan-'));
    root = join(dir, 'tree');
    mkdirSync(root);
    sqlite = await sqliteBackend.open(dir);
    pg = await pgBackend.open(dir);
  }, 120_000);

  afterAll(async () => {
    await sqlite?.close();
    await pg?.close();
    pgBackend.teardown();
    removeTree(dir);
  });

  const scanBoth = async (hash: 'candidates' | 'all' = 'candidates') => {
    const a = await runScan(sqlite.port, { roots: [root], jobs: 1, hash });
    const b = await runScan(pg.port, { roots: [root], jobs: 1, hash });
    expect(a.errors).toEqual([]);
    expect(counts(b)).toEqual(counts(a));
    const [ca, cb] = [await sqlite.dump(), await pg.dump()];
    expect(cb.files.length).toBe(ca.files.length);
    expect(cb).toEqual(ca);
    return { sqlite: a, pg: b, catalog: ca };
  };

  it('builds the same rows as SQLite on a first scan, a rescan after changes, and a scan that hashes everything', async () => {
    mktree(join(root, 'm'), ['--files', '150', '--tricky', '--seed', '11']);
    writeTree(root, {
      'keep/a.bin': 'same content',
      'keep/b.bin': 'same content',
      'move/from.bin': 'moving bytes',
      'move/twin.bin': 'moving bytes',
      'gone/deep/x.txt': 'x',
      'gone/y.txt': 'y',
      'grow.txt': 'grow',
      'grow2.txt': 'grow',
    });
    linkSync(join(root, 'keep/a.bin'), join(root, 'keep/a-link.bin'));

    const first = await scanBoth();
    expect(first.sqlite.new).toBeGreaterThan(150);
    expect(first.catalog.files.some((f) => f.includes('"status":"active"'))).toBe(true);

    mkdirSync(join(root, 'elsewhere'));
    renameSync(join(root, 'move/from.bin'), join(root, 'elsewhere/to.bin'));
    rmSync(join(root, 'gone'), { recursive: true });
    appendFileSync(join(root, 'grow.txt'), '+');
    writeTree(root, { 'keep/c.bin': 'same content' });

    const second = await scanBoth();
    expect(second.sqlite.moved).toBe(1);
    expect(second.sqlite.deleted).toBe(2); // gone/y.txt, gone/deep/x.txt (a move is not a deletion)
    expect(second.sqlite.changed).toBe(1);

    // Every file hashed: new files while the walk goes on (rows inserted with their hashes),
    // the rest by the 'all' stage.
    writeTree(root, { 'late/one.txt': 'late one', 'late/two.txt': 'late two!' });
    const third = await scanBoth('all');
    expect(third.sqlite.hashedFiles).toBeGreaterThan(0);
    expect(third.sqlite.pending).toBe(0);
    const active = third.catalog.files.filter((f) => f.includes('"status":"active"'));
    expect(active.filter((f) => f.includes('"sha256":null'))).toEqual([]);
  }, 120_000);

  it('merges a listing with a fixed number of statements, whatever its size', async () => {
    const top = join(dir, 'wide');
    const device = await pg.port.devices.register({
      identity: 'test:wide',
      stable: true,
      fsType: 'test',
      stDev: 1n,
      mountPoint: Buffer.from(top),
      mountRoot: Buffer.from('/'),
    });
    const scanId = await pg.port.scans.start({
      root: Buffer.from(top),
      owner: { pid: process.pid, startTime: '0' },
    });
    const tree = await pg.port.tree.open(scanId);
    const listing = (fsPath: string, files: ListedFile[], parentDirId: number | undefined) => ({
      deviceId: device.id,
      fsPath: Buffer.from(fsPath),
      parentDirId,
      files,
      subdirs: [],
      kept: [],
      moves: 'probe' as const,
    });
    const sizes = [3, 300];
    writeTree(top, { 'top.txt': 'top' });
    // The walk lists a parent before its children and hands them its row id.
    const rootDir = (await tree.mergeListing(listing('/', [], undefined))).dirId;
    const sent: number[] = [];
    for (const n of sizes) {
      const files: Record<string, string> = {};
      for (let i = 0; i < n; i++) files[`f${i}.txt`] = `content ${i % 7}`;
      writeTree(join(top, `wide-${n}`), files);
      const listed = Object.keys(files).map((name) => ({
        name: Buffer.from(name),
        meta: toMeta(lstatSync(join(top, `wide-${n}`, name), { bigint: true })),
      }));
      const before = pg.statements!();
      await pg.port.unitOfWork(async () => {
        const merged = await tree.mergeListing(listing(`/wide-${n}`, listed, rootDir));
        expect(merged.fresh).toHaveLength(n);
        const ids = await tree.insertFiles(
          merged.fresh.map((f) => ({
            deviceId: device.id,
            dirId: merged.dirId,
            name: f.name,
            meta: f.meta,
            hashes: undefined,
          })),
        );
        expect(new Set(ids).size).toBe(n);
      });
      sent.push(pg.statements!() - before);
    }
    // A new directory: BEGIN, the directory's row (looked up and inserted by one statement),
    // the move probe, the insert of the rows written behind (at COMMIT), COMMIT; plus, once
    // per 32,768 rows, the reservation of a block of row ids, with the look-up of the
    // sequence's name the first time (which an earlier test of this connection may have
    // made already).
    expect(sent[1]).toBe(5);
    expect([5, 7]).toContain(sent[0]);
  });

  it('scans as a role that has only the row privileges README grants (no DDL, no ownership)', async () => {
    const own = join(dir, 'privileges');
    mktree(own, ['--files', '60', '--tricky', '--seed', '5']);
    const cluster = pgTestCluster();
    const db = await cluster.createDatabase();
    const owner = await connectPg(cluster.url(db));
    await migratePg(owner); // the owner's first run creates the tables
    await owner.client.end();
    await cluster.createRole('scan_only', 'Scan-Only-Secret-1');
    await cluster.admin(
      `REVOKE CREATE ON SCHEMA public FROM PUBLIC;
       GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO scan_only;
       GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO scan_only;`,
      [],
      db,
    );
    const conn = await connectPg(
      cluster.url(db, { user: 'scan_only', password: 'Scan-Only-Secret-1' }),
    );
    try {
      await migratePg(conn); // current: needs nothing
      const port = pgScanOps(conn.client);
      const first = await runScan(port, { roots: [own], jobs: 1 });
      expect(first.errors).toEqual([]);
      expect(first.new).toBeGreaterThan(60);
      const again = await runScan(port, { roots: [own], jobs: 1 });
      expect([again.new, again.changed, again.deleted, again.errorCount]).toEqual([0, 0, 0, 0]);
      expect(again.unchanged).toBe(first.new);
    } finally {
      await conn.client.end();
    }
  }, 120_000);

  it('a unit of work whose statement failed is rolled back, never committed, even when the error was caught', async () => {
    const top = join(dir, 'caught');
    writeTree(top, { 'a.txt': 'a' });
    const device = await pg.port.devices.register({
      identity: 'test:caught',
      stable: true,
      fsType: 'test',
      stDev: 2n,
      mountPoint: Buffer.from(top),
      mountRoot: Buffer.from('/'),
    });
    const scanId = await pg.port.scans.start({
      root: Buffer.from(top),
      owner: { pid: process.pid, startTime: '0' },
    });
    const tree = await pg.port.tree.open(scanId);
    const file = {
      name: Buffer.from('a.txt'),
      meta: toMeta(lstatSync(join(top, 'a.txt'), { bigint: true })),
    };
    const before = (await pg.rows()).size;
    await expect(
      pg.port.unitOfWork(async () => {
        const m = await tree.mergeListing({
          deviceId: device.id,
          fsPath: Buffer.from('/'),
          parentDirId: undefined,
          files: [file],
          subdirs: [],
          kept: [],
          moves: 'none',
        });
        const row = {
          deviceId: device.id,
          dirId: m.dirId,
          name: file.name,
          meta: file.meta,
          hashes: undefined,
        };
        // A row of a directory that does not exist: the statement that writes it behind the
        // walk (here before a read of the device's rows) fails on the foreign key, caught and
        // ignored here; the COMMIT still reports it, as the cause.
        await tree.insertFiles([row, { ...row, name: Buffer.from('b'), dirId: m.dirId + 1000 }]);
        await pg.port.hashing.deviceHasFiles(device.id).catch(() => undefined);
      }),
    ).rejects.toThrow(/foreign key/);
    expect(pg.inTransaction()).toBe(false);
    expect((await pg.rows()).size).toBe(before);
    // A statement of the unit of work itself that failed and was caught: the COMMIT that
    // PostgreSQL answers with a rollback is refused.
    const dirsBefore = (await pg.dump()).dirs;
    await expect(
      pg.port.unitOfWork(async () => {
        const listing = { files: [], subdirs: [], kept: [], moves: 'none' as const };
        await tree.mergeListing({
          ...listing,
          deviceId: device.id,
          fsPath: Buffer.from('/new'),
          parentDirId: undefined,
        });
        expect((await pg.dump()).dirs.length).toBeGreaterThan(dirsBefore.length);
        await tree
          .mergeListing({
            deviceId: device.id + 1000,
            fsPath: Buffer.from('/'),
            parentDirId: undefined,
            files: [],
            subdirs: [],
            kept: [],
            moves: 'none',
          })
          .catch(() => undefined);
      }),
    ).rejects.toThrow(/a statement of this transaction failed; it was rolled back/);
    expect(pg.inTransaction()).toBe(false);
    expect((await pg.dump()).dirs).toEqual(dirsBefore);
  });
});
