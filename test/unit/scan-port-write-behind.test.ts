/**
 * What the walk's writes guarantee whatever a backend defers (PostgreSQL writes new file rows
 * behind the walk, src/catalog/pg/file-rows.ts), on each backend
 * (test/helpers/scan-backends.ts): a later listing's move probe sees the rows inserted before
 * it in the same transaction; a batch that commits, or a walk that stops and commits, keeps
 * every row it inserted; a batch rolled back keeps none, and none of them comes back with the
 * next commit. Real files, real catalogs.
 */
import { lstatSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, expect, it } from 'vitest';
import type { PgScanCatalog } from '../../src/catalog/pg/scan.js';
import type { DeviceRow, ListedFile, ScanTree } from '../../src/catalog/scan-port.js';
import { toMeta } from '../../src/scan/walker.js';
import { writeTree } from '../helpers/fs.js';
import type { Opened } from '../helpers/scan-backends.js';
import { OWNER, describeOnScanBackends, scanCatalogFixture } from '../helpers/scan-port-suite.js';

/** A batch that commits only when told to. */
const NEVER = { everyFiles: 1e9, everyMs: 1e9, always: false };

describeOnScanBackends('rows written by the walk on $name', (backend) => {
  const f = scanCatalogFixture(backend, { name: 'write-behind' });
  let top: string;
  let opened: Opened;
  let port: PgScanCatalog;
  let device: DeviceRow;
  beforeEach(() => {
    ({ top, opened, port, device } = f);
  });

  const listed = (sub: string, names: readonly string[]): ListedFile[] =>
    names.map((n) => ({
      name: Buffer.from(n),
      meta: toMeta(lstatSync(join(top, sub, n), { bigint: true })),
    }));

  /** Merge a listing and insert its new files, as the walk does (inside the caller's batch). */
  async function merge(
    t: ScanTree,
    p: { fsPath: string; parent: number | undefined; files: ListedFile[]; subdirs?: string[] },
  ) {
    const m = await t.mergeListing({
      deviceId: device.id,
      fsPath: Buffer.from(p.fsPath),
      parentDirId: p.parent,
      files: p.files,
      subdirs: (p.subdirs ?? []).map((s) => Buffer.from(s)),
      kept: [],
      moves: 'probe',
    });
    await t.insertFiles(
      m.fresh.map((f) => ({
        deviceId: device.id,
        dirId: m.dirId,
        name: f.name,
        meta: f.meta,
        hashes: undefined,
      })),
    );
    return m;
  }

  const newScan = async () =>
    port.tree.open(await port.scans.start({ root: Buffer.from(top), owner: OWNER }));

  it('a file moved mid-walk is a possible move in its new directory: the probe sees the row inserted in the old one', async () => {
    writeTree(top, { 'a/f.txt': 'moving', 'b/keep.txt': 'k' });
    const t = await newScan();
    const writer = port.scanWriter(NEVER);
    await writer.begin();
    const root = await merge(t, { fsPath: '/', parent: undefined, files: [], subdirs: ['a', 'b'] });
    await merge(t, { fsPath: '/a', parent: root.dirId, files: listed('a', ['f.txt']) });
    renameSync(join(top, 'a', 'f.txt'), join(top, 'b', 'f.txt'));
    const files = listed('b', ['f.txt', 'keep.txt']);
    const b = await merge(t, { fsPath: '/b', parent: root.dirId, files });
    expect([...b.knownInodes]).toEqual([files[0]!.meta.inode]);
    await writer.commit();
  });

  it('a walk stopped mid-way commits every row it inserted; a batch rolled back keeps none, and none comes back later', async () => {
    writeTree(top, { 'a/1.txt': '1', 'a/2.txt': '2', 'b/3.txt': '3' });
    const t = await newScan();
    const writer = port.scanWriter(NEVER);
    await writer.begin();
    const root = await merge(t, { fsPath: '/', parent: undefined, files: [], subdirs: ['a', 'b'] });
    await merge(t, { fsPath: '/a', parent: root.dirId, files: listed('a', ['1.txt', '2.txt']) });
    await writer.abort();
    expect([...(await opened.rows()).keys()]).toEqual([]);

    // The next batch: only what it inserted, once it commits (a stopped walk: parked rows
    // dropped, what was seen committed).
    await writer.begin();
    const again = await merge(t, { fsPath: '/', parent: undefined, files: [], subdirs: ['b'] });
    await merge(t, { fsPath: '/b', parent: again.dirId, files: listed('b', ['3.txt']) });
    await t.discardParked();
    await writer.commit();
    expect(opened.inTransaction()).toBe(false);
    expect(await opened.rows()).toEqual(
      new Map([['3.txt', { status: 'active', size: 1, prefix: false, sha: false }]]),
    );
  });
});
