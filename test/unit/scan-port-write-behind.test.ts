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
import {
  describeOnScanBackends,
  mergeAndInsert,
  openScan,
  scanCatalogFixture,
} from '../helpers/scan-port-suite.js';

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
    p: {
      fsPath: string;
      parent: number | undefined;
      files: ListedFile[];
      subdirs?: string[];
      moves?: 'probe' | 'none';
    },
  ) {
    return mergeAndInsert(t, {
      deviceId: device.id,
      fsPath: Buffer.from(p.fsPath),
      parentDirId: p.parent,
      files: p.files,
      subdirs: (p.subdirs ?? []).map((s) => Buffer.from(s)),
      kept: [],
      moves: p.moves ?? 'probe',
    });
  }

  const newScan = () => openScan(port, top);

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

  /** A chain of `depth` nested directories d0/d1/…, two files in each, as the walk lists them. */
  async function mergeChain(
    t: ScanTree,
    p: { from: string; parent: number; depth: number; first: number },
  ): Promise<number> {
    let parent = p.parent;
    let path = p.from;
    for (let i = p.first; i < p.first + p.depth; i++) {
      path = `${path === '/' ? '' : path}/d${i}`;
      const m = await merge(t, {
        fsPath: path,
        parent,
        files: listed(path.slice(1), ['x.txt', 'y.txt']),
        moves: 'none',
      });
      parent = m.dirId;
    }
    return parent;
  }

  /** The files mergeChain lists: x.txt and y.txt in each of d0, d0/d1, … (`depth` levels). */
  function writeChain(depth: number): void {
    const files: Record<string, string> = {};
    let path = '';
    for (let i = 0; i < depth; i++) {
      path += `d${i}/`;
      files[`${path}x.txt`] = `x${i}`;
      files[`${path}y.txt`] = `y${i}!`;
    }
    writeTree(top, files);
  }

  it('new directories below one the batch inserted: every level gets its row under its parent, every file its row under its directory, across commits', async () => {
    writeChain(12);
    const t = await newScan();
    const writer = port.scanWriter(NEVER);
    await writer.begin();
    const root = await merge(t, { fsPath: '/', parent: undefined, files: [], moves: 'none' });
    const mid = await mergeChain(t, { from: '/', parent: root.dirId, depth: 6, first: 0 });
    // A commit between two levels: the next level's parent is no longer this batch's.
    await writer.commit();
    await writer.begin();
    const rest = '/' + [0, 1, 2, 3, 4, 5].map((i) => `d${i}`).join('/');
    await mergeChain(t, { from: rest, parent: mid, depth: 6, first: 6 });
    await t.applyDeletions();
    await writer.commit();
    const dump = await opened.dump();
    // Every directory under its parent (the dump names the parent by path)…
    const dirs = dump.dirs.map((d) => JSON.parse(d) as { path: string; parent: string | null });
    const hex = (s: string) => Buffer.from(s).toString('hex');
    let expected = '/';
    for (let i = 0; i < 12; i++) {
      const child = `${expected === '/' ? '' : expected}/d${i}`;
      expect(dirs.find((d) => d.path === hex(child))?.parent).toBe(hex(expected));
      expected = child;
    }
    // …and every file, once, in its directory.
    const rows = dump.files.map((f) => JSON.parse(f) as { dir: string; name: string });
    expect(rows).toHaveLength(24);
    expect(new Set(rows.map((r) => `${r.dir}/${r.name}`)).size).toBe(24);
    expect(rows.filter((r) => r.dir === hex(expected)).map((r) => r.name)).toEqual([
      hex('x.txt'),
      hex('y.txt'),
    ]);
  });

  it('a batch rolled back with new directories queued below one it inserted keeps none of them', async () => {
    writeChain(3);
    const t = await newScan();
    const writer = port.scanWriter(NEVER);
    await writer.begin();
    const root = await merge(t, { fsPath: '/', parent: undefined, files: [], moves: 'none' });
    await mergeChain(t, { from: '/', parent: root.dirId, depth: 3, first: 0 });
    await writer.abort();
    expect(opened.inTransaction()).toBe(false);
    expect((await opened.dump()).dirs).toEqual([]);
    expect([...(await opened.rows()).keys()]).toEqual([]);
  });
});
