/**
 * The scan side of the catalog port (src/catalog/scan-port.ts), run once on each backend: a
 * real SQLite catalog in a temp directory, and a real PostgreSQL catalog in a throwaway cluster
 * (test/helpers/pg.ts; skipped with the reason when PostgreSQL is not installed, unless
 * HASHALL_REQUIRE_PG=1). Driven as the scan drives it: listings merged one call per directory,
 * new rows inserted together, hash jobs read in pages and results written through units of
 * work, the walk's batching writer, and rollback of a unit of work that fails. File metadata
 * comes from real files (lstat), not made-up numbers.
 */
import { appendFileSync, lstatSync, realpathSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PgScanCatalog } from '../../src/catalog/pg/scan.js';
import type {
  DeviceRow,
  ListedFile,
  ListingInput,
  NewFileRow,
  ScanTree,
} from '../../src/catalog/scan-port.js';
import { toMeta } from '../../src/scan/walker.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { pgBackend, sqliteBackend, type Opened } from '../helpers/scan-backends.js';

describe.each([sqliteBackend, pgBackend])('the scan port on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }

  let dir: string;
  let tree: string;
  let opened: Opened;
  /** What the scan sees: the port, without the handle. */
  let port: PgScanCatalog;
  let device: DeviceRow;

  const OWNER = { pid: process.pid, startTime: '0' };
  const ROOT = Buffer.from('/');

  beforeAll(() => backend.setup(), 120_000);
  afterAll(() => backend.teardown());

  beforeEach(async () => {
    dir = realpathSync(tempDir('hashall-scan-port-'));
    tree = join(dir, 'tree');
    opened = await backend.open(dir);
    port = opened.port;
    device = await port.devices.register({
      identity: 'test:scan-port',
      stable: true,
      fsType: 'test',
      stDev: lstatSync(dir, { bigint: true }).dev,
      mountPoint: Buffer.from(tree),
      mountRoot: ROOT,
    });
  });

  afterEach(async () => {
    await opened.close();
    removeTree(dir);
  });

  const rows = () => opened.rows();

  /** The regular files of the tree's top directory, as the walk lists them. */
  function listed(names: readonly string[]): ListedFile[] {
    return names.map((n) => ({
      name: Buffer.from(n),
      meta: toMeta(lstatSync(join(tree, n), { bigint: true })),
    }));
  }

  function listing(files: readonly ListedFile[], moves: ListingInput['moves']): ListingInput {
    return {
      deviceId: device.id,
      fsPath: ROOT,
      parentDirId: undefined,
      files,
      subdirs: [],
      kept: [],
      moves,
    };
  }

  /** A scan of the top directory as runScan does it: merge, insert the new files, finish. */
  async function scanTop(names: readonly string[]): Promise<{ scanId: number; tree: ScanTree }> {
    const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
    const t = await port.tree.open(scanId);
    await port.unitOfWork(async () => {
      const merged = await t.mergeListing(listing(listed(names), 'probe'));
      await t.insertFiles(merged.fresh.map((f) => newRow(merged.dirId, f)));
    });
    return { scanId, tree: t };
  }

  function newRow(dirId: number, f: ListedFile): NewFileRow {
    return { deviceId: device.id, dirId, name: f.name, meta: f.meta, hashes: undefined };
  }

  describe('the tree merge through the port', () => {
    it('merges a first listing: every file is handed back as new, then inserted in listing order', async () => {
      writeTree(tree, { 'a.txt': 'alpha', 'b.txt': 'bravo!', 'c.txt': 'charlie' });
      const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
      const t = await port.tree.open(scanId);
      const files = listed(['a.txt', 'b.txt', 'c.txt']);
      const ids = await port.unitOfWork(async () => {
        const merged = await t.mergeListing(listing(files, 'none'));
        expect(merged.counts).toEqual({ new: 0, changed: 0, unchanged: 0 });
        expect(merged.fresh.map((f) => f.name.toString())).toEqual(['a.txt', 'b.txt', 'c.txt']);
        expect(merged.knownInodes.size).toBe(0);
        return t.insertFiles(merged.fresh.map((f) => newRow(merged.dirId, f)));
      });
      expect(ids).toHaveLength(3);
      expect([...ids].sort((x, y) => x - y)).toEqual(ids); // in listing order
      expect([...(await rows()).keys()]).toEqual(['a.txt', 'b.txt', 'c.txt']);
      expect((await rows()).get('b.txt')).toEqual({
        status: 'active',
        size: 6,
        prefix: false,
        sha: false,
      });
    });

    it('a rescan: a changed file loses its hashes, an unchanged one keeps them, a removed one is deleted only when the scan finishes', async () => {
      writeTree(tree, { 'same.txt': 'twin', 'grow.txt': 'twin', 'gone.txt': 'bye' });
      await scanTop(['same.txt', 'grow.txt', 'gone.txt']);
      // Hash the two same-size files, as the stages after the walk would.
      await port.hashing.startSession();
      expect((await port.hashing.prepareJobs('prefix')).jobs).toBe(2);
      const jobs = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
      await port.unitOfWork(() =>
        port.hashing.writeResults({
          stored: jobs.map((j) => ({ target: j, prefix: Buffer.alloc(32, 1), sha256: undefined })),
          read: [],
          failed: [],
        }),
      );
      appendFileSync(join(tree, 'grow.txt'), '+');
      unlinkSync(join(tree, 'gone.txt'));

      const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
      const t = await port.tree.open(scanId);
      const merged = await port.unitOfWork(() =>
        t.mergeListing(listing(listed(['same.txt', 'grow.txt']), 'probe')),
      );
      expect(merged.counts).toEqual({ new: 0, changed: 1, unchanged: 1 });
      expect(merged.fresh).toEqual([]);
      // Parked, not deleted, while the scan runs.
      expect((await rows()).get('gone.txt')!.status).toBe('active');
      expect(await port.unitOfWork(() => t.applyDeletions())).toEqual({ deleted: 1, moved: 0 });
      const after = await rows();
      expect(after.get('gone.txt')!.status).toBe('deleted');
      expect(after.get('same.txt')).toEqual({
        status: 'active',
        size: 4,
        prefix: true,
        sha: false,
      });
      expect(after.get('grow.txt')).toEqual({
        status: 'active',
        size: 5,
        prefix: false,
        sha: false,
      });
    });

    it('an interrupted scan discards what it parked: nothing is marked deleted', async () => {
      writeTree(tree, { 'keep.txt': 'k', 'gone.txt': 'g' });
      await scanTop(['keep.txt', 'gone.txt']);
      unlinkSync(join(tree, 'gone.txt'));
      const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
      const t = await port.tree.open(scanId);
      await port.unitOfWork(() => t.mergeListing(listing(listed(['keep.txt']), 'probe')));
      await t.discardParked();
      expect(await port.unitOfWork(() => t.applyDeletions())).toEqual({ deleted: 0, moved: 0 });
      expect((await rows()).get('gone.txt')!.status).toBe('active');
    });

    it('a renamed file is handed back with its inode known (a possible move), and keeps its hashes when the scan finishes', async () => {
      writeTree(tree, { 'old.bin': 'same bytes', 'other.bin': 'same bytes' });
      await scanTop(['old.bin', 'other.bin']);
      await port.hashing.startSession();
      await port.hashing.prepareJobs('prefix');
      const jobs = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
      await port.unitOfWork(() =>
        port.hashing.writeResults({
          stored: jobs.map((j) => ({ target: j, prefix: Buffer.alloc(32, 7), sha256: undefined })),
          read: [],
          failed: [],
        }),
      );
      renameSync(join(tree, 'old.bin'), join(tree, 'new.bin'));
      const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
      const t = await port.tree.open(scanId);
      const files = listed(['new.bin', 'other.bin']);
      await port.unitOfWork(async () => {
        const probed = await t.mergeListing(listing(files, 'probe'));
        expect(probed.fresh.map((f) => f.name.toString())).toEqual(['new.bin']);
        expect([...probed.knownInodes]).toEqual([files[0]!.meta.inode]);
        await t.insertFiles(probed.fresh.map((f) => newRow(probed.dirId, f)));
        expect(await t.applyDeletions()).toEqual({ deleted: 1, moved: 1 });
      });
      expect((await rows()).get('new.bin')).toEqual({
        status: 'active',
        size: 10,
        prefix: true,
        sha: false,
      });
    });

    it("'none' asks nothing about moves: no inode is reported known", async () => {
      writeTree(tree, { 'x.bin': 'x' });
      await scanTop(['x.bin']);
      renameSync(join(tree, 'x.bin'), join(tree, 'y.bin'));
      const t = await port.tree.open(
        await port.scans.start({ root: Buffer.from(tree), owner: OWNER }),
      );
      const merged = await port.unitOfWork(() =>
        t.mergeListing(listing(listed(['y.bin']), 'none')),
      );
      expect(merged.fresh).toHaveLength(1);
      expect(merged.knownInodes.size).toBe(0);
    });
  });

  describe('hashing through the port', () => {
    it('pages through a stage’s jobs, writes a page of results in a unit of work, and does not retry a failed inode', async () => {
      writeTree(tree, {
        a1: 'aaaa',
        a2: 'bbbb',
        a3: 'cccc',
        lonely: 'no twin of this size',
      });
      await scanTop(['a1', 'a2', 'a3', 'lonely']);
      await port.hashing.startSession();
      expect(await port.hashing.deviceHasFiles(device.id)).toBe(true);
      expect(await port.hashing.pending()).toBe(3);
      expect(await port.hashing.prepareJobs('prefix')).toEqual({ jobs: 3, bytes: 0 });
      const first = await port.hashing.jobPage({ afterJobId: 0, limit: 2 });
      const second = await port.hashing.jobPage({ afterJobId: first[1]!.jobId, limit: 2 });
      const third = await port.hashing.jobPage({ afterJobId: second[0]!.jobId, limit: 2 });
      expect([...first, ...second].map((j) => j.name.toString())).toEqual(['a1', 'a2', 'a3']);
      expect(third).toEqual([]);
      const [j1, j2, j3] = [...first, ...second] as [
        (typeof first)[0],
        (typeof first)[0],
        (typeof first)[0],
      ];
      expect(j1.paths).toBe(1);
      await port.unitOfWork(() =>
        port.hashing.writeResults({
          stored: [
            { target: j1, prefix: Buffer.alloc(32, 1), sha256: Buffer.alloc(32, 2) },
            { target: j2, prefix: Buffer.alloc(32, 3), sha256: Buffer.alloc(32, 4) },
          ],
          read: [],
          failed: [{ deviceId: j3.deviceId, inode: j3.inode }],
        }),
      );
      const r = await rows();
      expect([r.get('a1')!.sha, r.get('a2')!.sha, r.get('a3')!.prefix]).toEqual([
        true,
        true,
        false,
      ]);
      // a3 still lacks its hash, but failed in this session: not selected again.
      expect(await port.hashing.pending()).toBe(1);
      expect((await port.hashing.prepareJobs('prefix')).jobs).toBe(0);
      // A new session forgets the failure.
      await port.hashing.startSession();
      expect((await port.hashing.prepareJobs('prefix')).jobs).toBe(1);
    });

    it('a result for a file that changed since its job was read is not stored', async () => {
      writeTree(tree, { p: '1234', q: '5678' });
      await scanTop(['p', 'q']);
      await port.hashing.startSession();
      await port.hashing.prepareJobs('prefix');
      const jobs = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
      appendFileSync(join(tree, 'p'), 'more');
      await scanTop(['p', 'q']); // p's row now has another size
      await port.unitOfWork(() =>
        port.hashing.writeResults({
          stored: jobs.map((j) => ({ target: j, prefix: Buffer.alloc(32, 9), sha256: undefined })),
          read: [],
          failed: [],
        }),
      );
      expect([(await rows()).get('p')!.prefix, (await rows()).get('q')!.prefix]).toEqual([
        false,
        true,
      ]);
    });

    it('a unit of work that throws rolls back every write it made', async () => {
      writeTree(tree, { m: 'xyzw', n: 'wzyx' });
      await scanTop(['m', 'n']);
      await port.hashing.startSession();
      await port.hashing.prepareJobs('prefix');
      const jobs = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
      const boom = new Error('the disk went away');
      await expect(
        port.unitOfWork(async () => {
          await port.hashing.writeResults({
            stored: jobs.map((j) => ({
              target: j,
              prefix: Buffer.alloc(32, 5),
              sha256: undefined,
            })),
            read: [],
            failed: [],
          });
          expect((await rows()).get('m')!.prefix).toBe(true); // visible inside the unit of work
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect([(await rows()).get('m')!.prefix, (await rows()).get('n')!.prefix]).toEqual([
        false,
        false,
      ]);
      expect(opened.inTransaction()).toBe(false);
    });
  });

  describe('the walk’s batching writer', () => {
    it('commits by policy, keeps what it committed when the rest is aborted', async () => {
      writeTree(tree, { 'one/a': 'a', 'two/b': 'b' });
      const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
      const t = await port.tree.open(scanId);
      const writer = port.scanWriter({ everyFiles: 1, everyMs: 60_000, always: false });
      const mergeDir = async (sub: string, name: string) => {
        const files = [
          {
            name: Buffer.from(name),
            meta: toMeta(lstatSync(join(tree, sub, name), { bigint: true })),
          },
        ];
        const merged = await t.mergeListing({
          ...listing(files, 'none'),
          fsPath: Buffer.from(`/${sub}`),
        });
        await t.insertFiles(merged.fresh.map((f) => newRow(merged.dirId, f)));
      };
      await writer.begin();
      await mergeDir('one', 'a');
      expect(await writer.commitIfDue(0)).toBe(false); // no file counted yet, clock not due
      expect(await writer.commitIfDue(1)).toBe(true);
      await writer.begin();
      await mergeDir('two', 'b');
      await writer.abort();
      expect([...(await rows()).keys()]).toEqual(['a']);
      expect(opened.inTransaction()).toBe(false);
    });
  });

  describe('scan records and devices through the port', () => {
    it('records a scan from start to finish, and lists, finds and renames devices', async () => {
      const scanId = await port.scans.start({ root: Buffer.from(tree), owner: OWNER });
      await port.scans.setRoot({ scanId, deviceId: device.id, fsPath: ROOT });
      expect((await port.scans.running()).map((s) => s.id)).toEqual([scanId]);
      await port.scans.finish({ scanId, status: 'completed', summary: { files: 0 } });
      expect(await port.scans.running()).toEqual([]);
      const last = await port.scans.lastPerRoot();
      expect(last.map((s) => [s.scanId, s.status, s.deviceId])).toEqual([
        [scanId, 'completed', device.id],
      ]);

      expect((await port.devices.list()).map((d) => d.identity)).toEqual(['test:scan-port']);
      // The same identity seen again is the same device, never a second one.
      const again = await port.devices.register({
        identity: 'test:scan-port',
        stable: true,
        fsType: 'test',
        stDev: 1n,
        mountPoint: Buffer.from('/elsewhere'),
        mountRoot: ROOT,
      });
      expect(again.id).toBe(device.id);
      expect(again.stDev).toBe(1n);
      const renamed = await port.devices.rename({ from: device.alias, to: 'pool' });
      expect(renamed.alias).toBe('pool');
      expect((await port.devices.findByAlias('pool'))?.id).toBe(device.id);
      expect(await port.devices.findByAlias(device.alias)).toBeUndefined();
      await expect(port.devices.rename({ from: 'nope', to: 'x' })).rejects.toThrow(
        /no device with alias 'nope'/,
      );
      expect((await port.devices.usage()).get(device.id)?.lastScanAt).toEqual(expect.any(Number));
    });
  });
});
