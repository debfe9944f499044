/**
 * Two scans of overlapping roots into one catalog, through the scan port on each backend
 * (test/helpers/scan-backends.ts): both can find a path without a row. The walk's hashing
 * inserts a file it took in a later transaction than the merge that found it new; another scan
 * may have inserted that path's row in between. The insert keeps that row (no unique-constraint
 * failure), and the id it resolved to carries the hashes written for it later. Likewise a
 * directory below one the scan inserted in an earlier transaction: on PostgreSQL its row is
 * written behind the walk, and another scan may have inserted it first.
 */
import { lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ListedFile, ScanTree } from '../../src/catalog/scan-port.js';
import { toMeta } from '../../src/scan/walker.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { pgBackend, sqliteBackend, type Opened } from '../helpers/scan-backends.js';

const OWNER = { pid: process.pid, startTime: '0' };

describe.each([sqliteBackend, pgBackend])('overlapping scans on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }
  let dir: string;
  let x: Opened;
  let y: Opened;

  beforeAll(() => backend.setup(), 120_000);
  afterAll(() => backend.teardown());
  beforeEach(async () => {
    dir = realpathSync(tempDir('hashall-overlap-'));
    [x, y] = await backend.openPair(dir);
  });
  afterEach(async () => {
    await x.close();
    await y.close();
    removeTree(dir);
  });

  /** A scan of the whole tree on connection c, its tree open. */
  const openTree = async (c: Opened, deviceId: number): Promise<ScanTree> => {
    const scanId = await c.port.scans.start({ root: Buffer.from(dir), owner: OWNER });
    await c.port.scans.setRoot({ scanId, deviceId, fsPath: Buffer.from('/') });
    return c.port.tree.open(scanId);
  };
  /** A first scan's listing of the directory at `path` (no subdirectories, nothing kept). */
  const listingOf = (
    deviceId: number,
    path: string,
    parentDirId: number | undefined,
    files: ListedFile[],
  ) => ({
    deviceId,
    fsPath: Buffer.from(path),
    parentDirId,
    files,
    subdirs: [],
    kept: [],
    moves: 'none' as const,
  });

  it("a file found new, then inserted after another scan's commit, keeps that scan's row and gets its hashes", async () => {
    writeFileSync(join(dir, 'f'), 'same content');
    const name = Buffer.from('f');
    const meta = toMeta(lstatSync(join(dir, 'f'), { bigint: true }));
    const dev = await x.port.devices.register({
      identity: 'test:overlap',
      stable: true,
      fsType: 'test',
      stDev: 7n,
      mountPoint: Buffer.from(dir),
      mountRoot: Buffer.from('/'),
    });
    const listing = listingOf(dev.id, '/', undefined, [{ name, meta }]);
    const tx = await openTree(x, dev.id);
    const ty = await openTree(y, dev.id);
    // X merges the directory: f has no row; X's hashing takes it (its row is written later).
    const mx = await x.port.unitOfWork(() => tx.mergeListing(listing));
    expect(mx.fresh.map((f) => f.name.toString())).toEqual(['f']);
    // Y, a scan of an overlapping root, merges and inserts f, and commits.
    await y.port.unitOfWork(async () => {
      const my = await ty.mergeListing(listing);
      expect(my.fresh).toHaveLength(1);
      await ty.insertFiles([{ deviceId: dev.id, dirId: my.dirId, name, meta, hashes: undefined }]);
    });
    // X inserts f as a first of its size (no hashes yet) and later stores its hashes by the
    // id it got back, as the walk's hashing does.
    const [xId] = await x.port.unitOfWork(() =>
      tx.insertFiles([{ deviceId: dev.id, dirId: mx.dirId, name, meta, hashes: undefined }]),
    );
    await x.port.hashing.startSession();
    const prefix = Buffer.alloc(32, 1);
    const sha256 = Buffer.alloc(32, 2);
    await x.port.unitOfWork(() =>
      x.port.hashing.writeResults({
        stored: [
          {
            target: {
              fileId: xId!,
              paths: 1,
              deviceId: dev.id,
              inode: meta.inode,
              size: meta.size,
              mtimeNs: meta.mtimeNs,
              ctimeNs: meta.ctimeNs,
            },
            prefix,
            sha256,
          },
        ],
        read: [],
        failed: [],
      }),
    );
    const rows = await y.rows();
    expect([...rows.entries()]).toEqual([
      ['f', { status: 'active', size: Number(meta.size), prefix: true, sha: true }],
    ]);
  });

  it('a directory another scan inserted first below one this scan committed: its row is taken, with everything below it', async () => {
    const dev = await x.port.devices.register({
      identity: 'test:overlap-dirs',
      stable: true,
      fsType: 'test',
      stDev: 8n,
      mountPoint: Buffer.from(dir),
      mountRoot: Buffer.from('/'),
    });
    mkdirSync(join(dir, 'a/b/c'), { recursive: true });
    for (const [p, content] of [
      ['a/b/f', 'f'],
      ['a/b/g', 'g'],
      ['a/b/c/h', 'h'],
    ] as const)
      writeFileSync(join(dir, p), content);
    const files = (sub: string, names: readonly string[]) =>
      names.map((n) => ({
        name: Buffer.from(n),
        meta: toMeta(lstatSync(join(dir, sub, n), { bigint: true })),
      }));
    const listing = (path: string, parentDirId: number | undefined, listed: ListedFile[]) =>
      listingOf(dev.id, path, parentDirId, listed);
    const insert = (t: ScanTree, dirId: number, listed: readonly ListedFile[]) =>
      t.insertFiles(
        listed.map((f) => ({
          deviceId: dev.id,
          dirId,
          name: f.name,
          meta: f.meta,
          hashes: undefined,
        })),
      );
    const tx = await openTree(x, dev.id);
    const ty = await openTree(y, dev.id);
    // X inserts / and a, and commits.
    const xa = await x.port.unitOfWork(async () => {
      const root = await tx.mergeListing(listing('/', undefined, []));
      return (await tx.mergeListing(listing('/a', root.dirId, []))).dirId;
    });
    // Y, scanning the same tree, finds them and inserts b with f, and commits.
    await y.port.unitOfWork(async () => {
      const root = await ty.mergeListing(listing('/', undefined, []));
      const a = await ty.mergeListing(listing('/a', root.dirId, []));
      const b = await ty.mergeListing(listing('/a/b', a.dirId, files('a/b', ['f'])));
      await insert(ty, b.dirId, b.fresh);
    });
    // X lists b (below a, which it inserted) and c below it, in one transaction.
    await x.port.unitOfWork(async () => {
      const b = await tx.mergeListing(listing('/a/b', xa, files('a/b', ['f', 'g'])));
      await insert(tx, b.dirId, b.fresh);
      const c = await tx.mergeListing(listing('/a/b/c', b.dirId, files('a/b/c', ['h'])));
      await insert(tx, c.dirId, c.fresh);
    });
    const dump = await y.dump();
    const paths = dump.dirs.map((l) => {
      const d = JSON.parse(l) as { path: string; parent: string | null };
      return [d.path, d.parent].map((h) => (h === null ? null : Buffer.from(h, 'hex').toString()));
    });
    expect(paths).toEqual([
      ['/', null],
      ['/a', '/'],
      ['/a/b', '/a'],
      ['/a/b/c', '/a/b'],
    ]);
    const names = dump.files.map((l) => {
      const f = JSON.parse(l) as { dir: string; name: string };
      return `${Buffer.from(f.dir, 'hex').toString()}/${Buffer.from(f.name, 'hex').toString()}`;
    });
    expect(names).toEqual(['/a/b/f', '/a/b/g', '/a/b/c/h']);
  });
});
