/**
 * More of the scan port's semantics, run once on each backend (SQLite, and PostgreSQL in a
 * throwaway cluster; test/helpers/scan-backends.ts): whole directories that vanish and come
 * back, names kept without being looked at, a directory listed without its parent's id, names
 * that are bytes and not text, an inode with several paths through the hash stages, hashes
 * inserted with a new row, and device aliases. Real files, real catalogs.
 */
import { linkSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, expect, it } from 'vitest';
import type { PgScanCatalog } from '../../src/catalog/pg/scan.js';
import type { DeviceRow, ListedFile, ScanTree } from '../../src/catalog/scan-port.js';
import { toMeta } from '../../src/scan/walker.js';
import { writeTree } from '../helpers/fs.js';
import type { Opened } from '../helpers/scan-backends.js';
import {
  describeOnScanBackends,
  mergeAndInsert,
  openScan,
  scanCatalogFixture,
} from '../helpers/scan-port-suite.js';

describeOnScanBackends('the scan port on $name, further', (backend) => {
  const f = scanCatalogFixture(backend, { name: 'further', mount: 'pool' });
  let top: string;
  let opened: Opened;
  let port: PgScanCatalog;
  let device: DeviceRow;
  beforeEach(() => {
    ({ top, opened, port, device } = f);
  });

  /** The regular files `names` of directory `sub` of the tree, as the walk lists them. */
  const listed = (sub: string, names: readonly (string | Buffer)[]): ListedFile[] =>
    names.map((n) => {
      const name = Buffer.isBuffer(n) ? n : Buffer.from(n);
      return {
        name,
        meta: toMeta(
          lstatSync(Buffer.concat([Buffer.from(join(top, sub) + '/'), name]), { bigint: true }),
        ),
      };
    });

  /** Merge one directory and insert its new files, as the walk does. */
  async function merge(
    t: ScanTree,
    p: {
      fsPath: string;
      parent: number | undefined;
      files: ListedFile[];
      subdirs?: string[];
      kept?: string[];
    },
  ) {
    return port.unitOfWork(() =>
      mergeAndInsert(t, {
        deviceId: device.id,
        fsPath: Buffer.from(p.fsPath),
        parentDirId: p.parent,
        files: p.files,
        subdirs: (p.subdirs ?? []).map((s) => Buffer.from(s)),
        kept: (p.kept ?? []).map((s) => Buffer.from(s)),
        moves: 'probe',
      }),
    );
  }

  const newScan = () => openScan(port, top);

  /** path → status (and parent path) of every directory row. */
  const dirs = async () =>
    new Map(
      (await opened.dump()).dirs.map((l) => {
        const d = JSON.parse(l) as { path: string; status: string; parent: string | null };
        const text = (h: string | null) => (h === null ? null : Buffer.from(h, 'hex').toString());
        return [text(d.path)!, `${d.status} ${text(d.parent)}`];
      }),
    );

  it('a vanished directory takes its whole subtree when the scan finishes, and comes back revived', async () => {
    writeTree(top, { 'd/f.txt': 'f', 'd/e/g.txt': 'g' });
    let t = await newScan();
    const root = await merge(t, { fsPath: '/', parent: undefined, files: [], subdirs: ['d'] });
    const d = await merge(t, {
      fsPath: '/d',
      parent: root.dirId,
      files: listed('d', ['f.txt']),
      subdirs: ['e'],
    });
    await merge(t, { fsPath: '/d/e', parent: d.dirId, files: listed('d/e', ['g.txt']) });
    expect(await port.unitOfWork(() => t.applyDeletions())).toEqual({ deleted: 0, moved: 0 });

    t = await newScan();
    await merge(t, { fsPath: '/', parent: undefined, files: [] });
    expect((await dirs()).get('/d')).toBe('active /'); // parked, not deleted, while it runs
    expect(await port.unitOfWork(() => t.applyDeletions())).toEqual({ deleted: 2, moved: 0 });
    expect(await dirs()).toEqual(
      new Map([
        ['/', 'active null'],
        ['/d', 'deleted /'],
        ['/d/e', 'deleted /d'],
      ]),
    );

    t = await newScan();
    const again = await merge(t, { fsPath: '/', parent: undefined, files: [], subdirs: ['d'] });
    const back = await merge(t, {
      fsPath: '/d',
      parent: again.dirId,
      files: listed('d', ['f.txt']),
    });
    expect(back.dirId).toBe(d.dirId);
    // A deleted row that comes back counts as new and is not handed back for insertion.
    expect(back.counts).toEqual({ new: 1, changed: 0, unchanged: 0 });
    expect(back.fresh).toEqual([]);
    expect((await dirs()).get('/d')).toBe('active /');
    expect((await opened.rows()).get('f.txt')!.status).toBe('active');
  });

  it('names kept without being looked at keep their rows; unlisted ones are deleted', async () => {
    writeTree(top, { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
    let t = await newScan();
    await merge(t, {
      fsPath: '/',
      parent: undefined,
      files: listed('', ['a.txt', 'b.txt', 'c.txt']),
    });
    await port.unitOfWork(() => t.applyDeletions());
    t = await newScan();
    await merge(t, {
      fsPath: '/',
      parent: undefined,
      files: listed('', ['a.txt']),
      kept: ['b.txt'],
    });
    expect(await port.unitOfWork(() => t.applyDeletions())).toEqual({ deleted: 1, moved: 0 });
    const r = await opened.rows();
    expect([r.get('a.txt')!.status, r.get('b.txt')!.status, r.get('c.txt')!.status]).toEqual([
      'active',
      'active',
      'deleted',
    ]);
  });

  it('a directory listed without its parent’s id gets rows for its missing ancestors', async () => {
    writeTree(top, { 'x/y/z/deep.txt': 'deep' });
    const t = await newScan();
    const m = await merge(t, {
      fsPath: '/x/y/z',
      parent: undefined,
      files: listed('x/y/z', ['deep.txt']),
    });
    expect(m.fresh).toHaveLength(1);
    expect(await dirs()).toEqual(
      new Map([
        ['/', 'active null'],
        ['/x', 'active /'],
        ['/x/y', 'active /x'],
        ['/x/y/z', 'active /x/y'],
      ]),
    );
  });

  it('names are bytes: a name that is not UTF-8 and one with a newline round-trip exactly', async () => {
    const odd = [Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62]), Buffer.from('line\nbreak')];
    for (const n of odd) writeFileSync(Buffer.concat([Buffer.from(top + '/'), n]), 'same');
    let t = await newScan();
    const first = await merge(t, { fsPath: '/', parent: undefined, files: listed('', odd) });
    expect(first.fresh.map((f) => f.name)).toEqual(odd);
    t = await newScan();
    const again = await merge(t, { fsPath: '/', parent: undefined, files: listed('', odd) });
    expect(again.counts).toEqual({ new: 0, changed: 0, unchanged: 2 });
    expect(await port.unitOfWork(() => t.applyDeletions())).toEqual({ deleted: 0, moved: 0 });
    await port.hashing.startSession();
    await port.hashing.prepareJobs('prefix');
    const jobs = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
    expect(jobs.map((j) => j.name).sort(Buffer.compare)).toEqual([...odd].sort(Buffer.compare));
  });

  it('an inode with several paths is one job, its hashes land on every path, and the full stage counts its bytes and what the prefix stage read', async () => {
    writeTree(top, { h1: 'twelve bytes', other: 'twelve bytez' });
    linkSync(join(top, 'h1'), join(top, 'h2'));
    const t = await newScan();
    await merge(t, { fsPath: '/', parent: undefined, files: listed('', ['h1', 'h2', 'other']) });
    await port.hashing.startSession();
    expect(await port.hashing.prepareJobs('prefix')).toEqual({ jobs: 2, bytes: 0 });
    const jobs = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
    expect(jobs.map((j) => [j.name.toString(), j.paths, j.readBefore])).toEqual([
      ['h1', 2, false],
      ['other', 1, false],
    ]);
    await port.unitOfWork(() =>
      port.hashing.writeResults({
        stored: jobs.map((j) => ({ target: j, prefix: Buffer.alloc(32, 3), sha256: undefined })),
        read: [],
        failed: [],
      }),
    );
    let r = await opened.rows();
    expect([r.get('h1')!.prefix, r.get('h2')!.prefix, r.get('other')!.prefix]).toEqual([
      true,
      true,
      true,
    ]);
    expect(await port.hashing.pending()).toBe(2); // same size and prefix: the full hash is due
    expect(await port.hashing.prepareJobs('full')).toEqual({ jobs: 2, bytes: 24 });
    const full = await port.hashing.jobPage({ afterJobId: 0, limit: 10 });
    expect(full.map((j) => j.readBefore)).toEqual([true, true]);
    await port.unitOfWork(() =>
      port.hashing.writeResults({
        stored: full.map((j, i) => ({
          target: j,
          prefix: Buffer.alloc(32, 3),
          sha256: Buffer.alloc(32, i),
        })),
        read: [],
        failed: [],
      }),
    );
    r = await opened.rows();
    expect([r.get('h1')!.sha, r.get('h2')!.sha, r.get('other')!.sha]).toEqual([true, true, true]);
    expect(await port.hashing.pending()).toBe(0);
    const usage = (await port.devices.usage()).get(device.id)!;
    expect([usage.files, usage.inodes, usage.bytes]).toEqual([3, 2, 24]);
  });

  it('hashes the walk computed are stored with the new row', async () => {
    writeTree(top, { w: 'walked' });
    const t = await newScan();
    await port.unitOfWork(async () => {
      const m = await t.mergeListing({
        deviceId: device.id,
        fsPath: Buffer.from('/'),
        parentDirId: undefined,
        files: listed('', ['w']),
        subdirs: [],
        kept: [],
        moves: 'none',
      });
      const ids = await t.insertFiles([
        {
          deviceId: device.id,
          dirId: m.dirId,
          name: m.fresh[0]!.name,
          meta: m.fresh[0]!.meta,
          hashes: { prefix: Buffer.alloc(32, 1), sha256: Buffer.alloc(32, 2) },
        },
      ]);
      expect(ids).toHaveLength(1);
    });
    expect((await opened.rows()).get('w')).toEqual({
      status: 'active',
      size: 6,
      prefix: true,
      sha: true,
    });
  });

  it('a second filesystem with the same mount point name gets the next free alias', async () => {
    const second = await port.devices.register({
      identity: 'test:further-2',
      stable: false,
      fsType: 'test',
      stDev: 8n,
      mountPoint: Buffer.from('/elsewhere/pool'),
      mountRoot: Buffer.from('/'),
    });
    expect([device.alias, second.alias]).toEqual(['pool', 'pool-2']);
    expect(second.identityStable).toBe(false);
    await expect(port.devices.rename({ from: 'pool-2', to: 'pool' })).rejects.toThrow(
      /alias 'pool' is already used by device test:further/,
    );
    await expect(port.devices.rename({ from: 'pool-2', to: '-bad' })).rejects.toThrow(
      /alias '-bad' is not valid/,
    );
  });
});
