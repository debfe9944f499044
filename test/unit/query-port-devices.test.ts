/**
 * The query port across two filesystems, on each backend (test/helpers/query-backends.ts): a
 * tree on the disk and a tmpfs mounted for the test, scanned together by runScan. Contents on
 * both devices (cross-device groups, the cross-device dupes listing, members of a content on
 * any device), a device filter on every grouping, the export of one device, usage per device,
 * and a scope whose directory name holds `%`, `_` and a byte that is not UTF-8 next to a
 * sibling that only shares its prefix (a LIKE pattern or a text comparison would take it in).
 * A last test compares the two backends' results value for value.
 */
import { linkSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceRow } from '../../src/catalog/devices.js';
import { ALL_ROWS, type RowScope } from '../../src/catalog/query-port.js';
import type * as ScannerMod from '../../src/scan/scanner.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { mountTmpfs, mountUnavailableReason, unmountAll } from '../helpers/mounts.js';
import {
  pgQueryBackend,
  sqliteQueryBackend,
  type QueryOpened,
  type QueryTestCatalog,
  timeless,
} from '../helpers/query-backends.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { runScan } = (await import(dist('scan/scanner.js'))) as typeof ScannerMod;

const X = 'x'.repeat(3000);
const Y = 'y'.repeat(5000);
const W = 'w'.repeat(400);
/** `p%_` and the byte 0xff: a directory name that is no pattern and no text. */
const ODD = Buffer.concat([Buffer.from('p%_'), Buffer.from([0xff])]);

const mountReason = mountUnavailableReason();
if (mountReason && process.env.HASHALL_REQUIRE_MOUNTS === '1') {
  throw new Error(`mount tests are required: ${mountReason}`);
}

let dir: string;
let disk: string;
let tmp: string;

beforeAll(() => {
  if (mountReason) return;
  dir = realpathSync(tempDir('hashall-query-devices-'));
  disk = join(dir, 'disk');
  tmp = join(dir, 'tmp');
  writeTree(disk, { 'a/x1': X, 'a/x2': X, 'a/y1': Y, 'a/z1': 'z'.repeat(700), 'a/e0': '' });
  linkSync(join(disk, 'a/z1'), join(disk, 'a/z1link'));
  // disk/p%_\xff/{x3,u1} and the sibling disk/p%_\xffb/y9 (its name only starts the same).
  const odd = Buffer.concat([Buffer.from(`${disk}/`), ODD]);
  mkdirSync(odd);
  writeFileSync(Buffer.concat([odd, Buffer.from('/x3')]), X);
  writeFileSync(Buffer.concat([odd, Buffer.from('/u1')]), 'unique');
  const sibling = Buffer.concat([odd, Buffer.from('b')]);
  mkdirSync(sibling);
  writeFileSync(Buffer.concat([sibling, Buffer.from('/y9')]), Y);
  mountTmpfs(tmp, 8);
  writeTree(tmp, { x4: X, y2: Y, w1: W, w2: W, e1: '' });
});

afterAll(() => {
  unmountAll();
  if (dir) removeTree(dir);
});

const names = (paths: readonly { path: Buffer }[]) =>
  paths.map((p) => p.path.subarray(p.path.lastIndexOf('/') + 1).toString('latin1')).sort();

const seen = new Map<string, Record<string, unknown>>();

describe.each([sqliteQueryBackend, pgQueryBackend])('two devices on $name', (backend) => {
  if (backend.unavailable || mountReason) {
    it.skip(`skipped: ${backend.unavailable ?? mountReason}`, () => undefined);
    return;
  }

  let opened: QueryOpened;
  let catalog: QueryTestCatalog;
  let onDisk: DeviceRow;
  let onTmp: DeviceRow;
  const out: Record<string, unknown> = {};
  seen.set(backend.name, out);

  beforeAll(async () => {
    await backend.setup();
    const own = join(dir, backend.name);
    mkdirSync(own);
    opened = await backend.open(own);
    catalog = opened.catalog;
    const s = await runScan(catalog, { roots: [disk, tmp], jobs: 1 });
    expect(s.errors).toEqual([]);
    const devices = await catalog.devices.list();
    expect(devices).toHaveLength(2);
    onTmp = devices.find((d) => d.fsType === 'tmpfs')!;
    onDisk = devices.find((d) => d.fsType !== 'tmpfs')!;
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
    backend.teardown();
  });

  /** A directory of the disk tree as its device knows it (the path inside the filesystem). */
  const fsPath = (abs: Buffer): Buffer => {
    const mount = onDisk.mountPoint.toString('latin1');
    const rel = abs.subarray(mount === '/' ? 0 : mount.length);
    return Buffer.concat([
      onDisk.mountRoot.equals(Buffer.from('/')) ? Buffer.alloc(0) : onDisk.mountRoot,
      rel,
    ]);
  };

  it('groups by device, and contents on both devices', async () => {
    const same = await catalog.groups.sameDevice({ scope: ALL_ROWS });
    const page = await same.page(0, -1);
    expect(page.map((g) => [g.deviceId === onTmp.id ? 'tmp' : 'disk', g.size, g.saveable])).toEqual(
      [
        ['disk', 3000, 6000],
        ['disk', 5000, 5000],
        ['tmp', 400, 400],
      ],
    );
    const tmpOnly = await catalog.groups.sameDevice({ deviceId: onTmp.id, scope: ALL_ROWS });
    expect([tmpOnly.groups, tmpOnly.saveable]).toEqual([1, 400]);
    const cross = await catalog.groups.crossDevice({ scope: ALL_ROWS });
    expect([cross.groups, cross.bytes]).toEqual([2, 8000]);
    const crossKeys = await cross.page(0, 10);
    expect(crossKeys.map((k) => [k.size, k.devices, k.copies])).toEqual([
      [5000, 2, 3],
      [3000, 2, 4],
    ]);
    const content = await catalog.groups.contentMembers(crossKeys);
    expect(content.map(names)).toEqual([
      ['y1', 'y2', 'y9'],
      ['x1', 'x2', 'x3', 'x4'],
    ]);
    const crossTmp = await catalog.groups.crossDevice({ deviceId: onTmp.id, scope: ALL_ROWS });
    expect(crossTmp.groups).toBe(2);
    expect(await catalog.groups.emptyFiles({ deviceId: onTmp.id, scope: ALL_ROWS })).toBe(1);
    expect(await catalog.groups.emptyFiles({ scope: ALL_ROWS })).toBe(2);
    expect(await catalog.groups.hardlinks({ deviceId: onTmp.id })).toEqual({
      sharedPaths: 0,
      inodes: 0,
      bytesSaved: 0,
    });
    expect((await catalog.groups.hardlinks({ deviceId: onDisk.id })).inodes).toBe(1);
    Object.assign(out, { page, crossKeys, content, tmpOnly: await tmpOnly.page(0, 10) });
  });

  it('a scope is a byte range: %, _ and 0xff are plain bytes, a sibling sharing the prefix is out', async () => {
    const a = Buffer.from(join(disk, 'a'));
    const odd = Buffer.concat([Buffer.from(`${disk}/`), ODD]);
    const scope: RowScope = {
      kind: 'dirs',
      dirs: [
        { deviceId: onDisk.id, fsPath: fsPath(a) },
        { deviceId: onDisk.id, fsPath: fsPath(odd) },
      ],
    };
    const g = await catalog.groups.sameDevice({ scope });
    // x1, x2 and x3 in scope; y9 (in the sibling) is not, so y1 is alone.
    expect([g.groups, g.saveable]).toEqual([1, 6000]);
    const listing = await catalog.dupes.prepare({ crossDevice: false, scope });
    const groups = await listing.page({ afterRowId: 0, groups: 10, paths: 100 });
    expect(groups.map((d) => names(d.paths))).toEqual([['x1', 'x2', 'x3']]);
    const oddOnly = await catalog.groups.sameDevice({
      scope: { kind: 'dirs', dirs: [{ deviceId: onDisk.id, fsPath: fsPath(odd) }] },
    });
    expect(oddOnly.groups).toBe(0);
    out.scoped = groups;
  });

  it('the dupes listing across devices, by device, and bounded by size', async () => {
    const cross = await catalog.dupes.prepare({ crossDevice: true, scope: ALL_ROWS });
    const page = await cross.page({ afterRowId: 0, groups: 10, paths: 100 });
    // Savings over both devices: Y 5,000 × 2, X 3,000 × 3, W 400 × 1 (Z is one inode: no group).
    expect(page.map((g) => [g.key.size, g.key.files, names(g.paths)])).toEqual([
      [5000, 3, ['y1', 'y2', 'y9']],
      [3000, 4, ['x1', 'x2', 'x3', 'x4']],
      [400, 2, ['w1', 'w2']],
    ]);
    const tmpOnly = await catalog.dupes.prepare({
      crossDevice: false,
      deviceId: onTmp.id,
      scope: ALL_ROWS,
    });
    expect(tmpOnly.groups).toBe(1);
    const small = await catalog.dupes.prepare({
      crossDevice: true,
      scope: ALL_ROWS,
      maxSize: 3000,
    });
    expect(small.groups).toBe(2);
    Object.assign(out, { crossDupes: page });
  });

  it('exports one device, and counts usage per device', async () => {
    const rows = [];
    for await (const p of catalog.export.files({ deviceId: onTmp.id, pageSize: 2 }))
      rows.push(...p);
    expect(rows.map((r) => r.name.toString())).toEqual(['e1', 'w1', 'w2', 'x4', 'y2']);
    const all = [];
    for await (const p of catalog.export.files({ pageSize: 3 })) all.push(...p);
    expect(all).toHaveLength(14);
    const usage = await catalog.stats.deviceUsage();
    expect(usage.get(onTmp.id)?.files).toBe(5);
    expect(usage.get(onDisk.id)?.files).toBe(9);
    Object.assign(out, { export: all, usage, stats: await catalog.stats.catalog() });
  });
});

describe.skipIf(pgQueryBackend.unavailable || mountReason)('both backends, two devices', () => {
  it('return the same results, value for value', () => {
    const [sqlite, pg] = [seen.get('SQLite'), seen.get('PostgreSQL')];
    expect(Object.keys(pg ?? {}).sort()).toEqual(Object.keys(sqlite ?? {}).sort());
    expect(Object.keys(sqlite ?? {}).length).toBeGreaterThan(6);
    for (const key of Object.keys(sqlite!))
      expect(timeless(pg![key]), key).toEqual(timeless(sqlite![key]));
  });
});
