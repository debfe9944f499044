/**
 * The hashing that runs alongside the walk (src/scan/walk-hasher.ts), driven directly on real
 * files and a real catalog: which files it takes, what it writes, and that a file changed
 * under it is written without hashes and not retried by the stages after the walk.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { removeTree, tempDir } from '../helpers/fs.js';
// Types from src, code from dist: the hash pool starts its workers from the compiled
// hash-worker.js next to the module that runs.
import type * as OpenMod from '../../src/catalog/open.js';
import type { NewFileRow } from '../../src/catalog/scan-port.js';
import type * as WalkHasherMod from '../../src/scan/walk-hasher.js';
import type * as WalkerMod from '../../src/scan/walker.js';
import type * as PoolMod from '../../src/scan/hash-pool.js';
import type * as MergeMod from '../../src/scan/merge.js';
import type * as SummaryMod from '../../src/scan/summary.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { openCatalog } = (await import(dist('catalog/open.js'))) as typeof OpenMod;
const { WalkHasher } = (await import(dist('scan/walk-hasher.js'))) as typeof WalkHasherMod;
const { toMeta } = (await import(dist('scan/walker.js'))) as typeof WalkerMod;
const { LazyHashPool } = (await import(dist('scan/hash-pool.js'))) as typeof PoolMod;
const { mergeListing } = (await import(dist('scan/merge.js'))) as typeof MergeMod;
const { emptySummary } = (await import(dist('scan/summary.js'))) as typeof SummaryMod;

interface Row {
  name: Buffer;
  prefix_hash: Buffer | null;
  sha256: Buffer | null;
}

/** A scan of `root` on a catalog, and a walk hasher counting what it reports in `seen`. */
async function startScan(p: {
  port: OpenMod.Catalog;
  root: string;
  identity: string;
  pools: PoolMod.LazyHashPool;
  shouldStop: () => boolean;
}) {
  const { port, root, pools, shouldStop } = p;
  const dev = await port.devices.register({
    identity: p.identity,
    stable: true,
    fsType: 'test',
    stDev: lstatSync(root, { bigint: true }).dev,
    mountPoint: Buffer.from(root),
    mountRoot: Buffer.from('/'),
  });
  const scanId = await port.scans.start({
    root: Buffer.from(root),
    owner: { pid: process.pid, startTime: '0' },
  });
  const tree = await port.tree.open(scanId);
  await port.hashing.startSession();
  const seen = { read: 0, hashed: 0, changed: 0, errors: [] as string[] };
  const hasher = new WalkHasher({
    hashing: port.hashing,
    stage: 'prefix',
    pools,
    shouldStop,
    report: {
      read: (b: number) => (seen.read += b),
      hashed: () => seen.hashed++,
      changed: () => seen.changed++,
      error: (_p: Buffer, m: string) => seen.errors.push(m),
    },
  });
  /** Merge a listing of the root's files `names`, as the walk would. */
  const mergeRoot = async (names: readonly string[]) =>
    tree.mergeListing({
      deviceId: dev.id,
      fsPath: Buffer.from('/'),
      parentDirId: undefined,
      files: names.map((n) => ({
        name: Buffer.from(n),
        meta: toMeta(lstatSync(join(root, n), { bigint: true })),
      })),
      subdirs: [],
      kept: [],
      moves: await hasher.movesPossible(dev.id),
    });
  return { dev, tree, seen, hasher, mergeRoot };
}

describe('WalkHasher', () => {
  let dir: string;
  let cat: OpenMod.Catalog | undefined;
  beforeAll(() => {
    dir = realpathSync(tempDir());
  });
  afterAll(() => {
    cat?.db.close();
    removeTree(dir);
  });

  it('hashes a size once a second inode has it, the first by row id; a file changed meanwhile gets a row without hashes and is not retried', async () => {
    const big = 'z'.repeat(100_000); // > the whole-read limit: prefix (and suffix) only
    const files: Record<string, string> = {
      'first.bin': big,
      'second.bin': big,
      'changed.bin': big.replace(/^z/, 'y'),
      'lonely.txt': 'no other file has this size',
      'small-a.txt': 'twin',
      'small-b.txt': 'twin',
      'empty-a': '',
      'empty-b': '',
    };
    for (const [n, c] of Object.entries(files)) writeFileSync(join(dir, n), c);
    cat = openCatalog(join(dir, 'c.db'));
    const port = cat;
    const pools = new LazyHashPool(1);
    const { dev, tree, seen, hasher, mergeRoot } = await startScan({
      port,
      root: dir,
      identity: 'test:walk-hasher',
      pools,
      shouldStop: () => false,
    });
    try {
      await port.unitOfWork(async () => {
        const merged = await mergeRoot(Object.keys(files));
        expect(merged.fresh.length).toBe(Object.keys(files).length);
        const { dirId } = merged;
        hasher.beginListing(merged.knownInodes);
        const taken: string[] = [];
        const rows: NewFileRow[] = [];
        const offers: WalkHasherMod.Offer[] = [];
        for (const { name, meta } of merged.fresh) {
          const file = { tree, deviceId: dev.id, dirId, dirAbs: Buffer.from(dir), name, meta };
          const offer = hasher.offerNew(file);
          if (offer.kind === 'taken') taken.push(name.toString());
          else {
            rows.push({ deviceId: dev.id, dirId, name, meta, hashes: undefined });
            offers.push(offer);
          }
        }
        // The first of each size is inserted with its listing; a later file of the same size
        // is taken and written with its hashes. Empty files are never hashed.
        expect(taken).toEqual(['second.bin', 'changed.bin', 'small-b.txt']);
        (await tree.insertFiles(rows)).forEach((id, i) => hasher.inserted(offers[i]!, id));
        // Nothing is sent before the walk asks (no worker runs before wait() or finish()
        // starts one): change a taken file now, so that the worker finds it changed.
        appendFileSync(join(dir, 'changed.bin'), '+');
        await hasher.finish();
        expect(await hasher.apply()).toBe(5); // three inserts, two first-of-size updates
      });
    } finally {
      await pools.close();
    }
    // Each big file's first and last 4 KiB (hash-job.ts SUFFIX_BYTES), the small ones whole.
    expect(seen).toEqual({ read: 8192 * 2 + 4 * 2 + 0, hashed: 4, changed: 1, errors: [] });
    const rows = new Map(
      (cat.db.prepare('SELECT name, prefix_hash, sha256 FROM files').all() as Row[]).map((r) => [
        r.name.toString(),
        r,
      ]),
    );
    expect(rows.size).toBe(8);
    const has = (n: string) => [rows.get(n)!.prefix_hash !== null, rows.get(n)!.sha256 !== null];
    expect(has('first.bin')).toEqual([true, false]);
    expect(has('second.bin')).toEqual([true, false]);
    expect(rows.get('first.bin')!.prefix_hash).toEqual(rows.get('second.bin')!.prefix_hash);
    expect(has('small-a.txt')).toEqual([true, true]);
    expect(has('small-b.txt')).toEqual([true, true]);
    expect(has('changed.bin')).toEqual([false, false]);
    expect(has('lonely.txt')).toEqual([false, false]);
    expect(has('empty-a')).toEqual([false, false]);
    // The stage after the walk has nothing left to read: the changed file is not retried
    // (it was reported once), the lonely one has no twin.
    expect((await port.hashing.prepareJobs('prefix')).jobs).toBe(0);
  });

  it.each(['goes on', 'is stopped'] as const)(
    'reads two new inodes whose size, prefix and suffix agree whole while the walk %s, and every later one; not one whose prefix or suffix differs',
    async (walk) => {
      const sub = join(dir, `pairs-${walk.replace(' ', '-')}`);
      mkdirSync(sub);
      // Past the whole-read limit: prefix and suffix only at first.
      const SIZE = 100_000;
      const big = 'z'.repeat(SIZE);
      const files: Record<string, string> = {
        'a.bin': big,
        'b.bin': big,
        'c.bin': big,
        'd.bin': `q${big.slice(1)}`, // another prefix
        'e.bin': `${big.slice(0, -1)}w`, // the same prefix, another suffix
        'f.bin': `${big.slice(0, SIZE / 2)}m${big.slice(SIZE / 2 + 1)}`, // the same edges, other content
      };
      for (const [n, c] of Object.entries(files)) writeFileSync(join(sub, n), c);
      const c2 = openCatalog(join(sub, 'c.db'));
      const port = c2;
      const pools = new LazyHashPool(2);
      try {
        let stop = false;
        const { dev, tree, seen, hasher, mergeRoot } = await startScan({
          port,
          root: sub,
          identity: 'test:walk-hasher-pairs',
          pools,
          shouldStop: () => stop,
        });
        await port.unitOfWork(async () => {
          const merged = await mergeRoot(Object.keys(files));
          hasher.beginListing(merged.knownInodes);
          const rows: NewFileRow[] = [];
          const offers: WalkHasherMod.Offer[] = [];
          for (const { name, meta } of merged.fresh) {
            const file = {
              tree,
              deviceId: dev.id,
              dirId: merged.dirId,
              dirAbs: Buffer.from(sub),
              name,
              meta,
            };
            const offer = hasher.offerNew(file);
            if (offer.kind !== 'taken') {
              rows.push({ deviceId: dev.id, dirId: merged.dirId, name, meta, hashes: undefined });
              offers.push(offer);
            }
          }
          (await tree.insertFiles(rows)).forEach((id, i) => hasher.inserted(offers[i]!, id));
          // As the walk does between listings: the workers start, the prefixes come back.
          await hasher.wait();
          while (!hasher.hasResults()) await new Promise((r) => setTimeout(r, 5));
          expect(await hasher.apply()).toBe(6); // a's prefix by row id, five rows inserted
        });
        // The prefixes are written; the pairs they make are read whole next, as root-scan.ts
        // does at the end of the walk (during it, at each listing).
        const sha = (n: string) =>
          (
            c2.db.prepare('SELECT sha256 FROM files WHERE name = ?').get(Buffer.from(n)) as {
              sha256: Buffer | null;
            }
          ).sha256?.toString('hex') ?? null;
        expect(Object.keys(files).map(sha)).toEqual([null, null, null, null, null, null]);
        expect(hasher.hasQueued()).toBe(true);
        const digest = (c: string) => createHash('sha256').update(c).digest('hex');
        if (walk === 'is stopped') {
          // Ctrl-C. While the walk goes on, full reads go one batch at a time: a went as soon
          // as it was queued, b, c and f wait. The batch at the workers is written; those not
          // yet sent are dropped, and the next scan's full stage finds them.
          stop = true;
          await port.unitOfWork(async () => {
            await hasher.finish();
            expect(await hasher.apply()).toBe(1);
          });
          expect(hasher.hasQueued()).toBe(false);
          expect(Object.keys(files).map(sha)).toEqual([digest(big), null, null, null, null, null]);
          expect(seen.read).toBe(6 * 8192 + SIZE);
          expect((await port.hashing.prepareJobs('full')).jobs).toBe(3);
          return;
        }
        await port.unitOfWork(async () => {
          await hasher.finish();
          expect(await hasher.apply()).toBe(4); // a, b, c and f read whole
        });
        expect(hasher.hasQueued()).toBe(false);
        expect(Object.keys(files).map(sha)).toEqual([
          digest(big),
          digest(big),
          digest(big),
          null,
          null,
          digest(files['f.bin']!),
        ]);
        // Each file counted once; its bytes as read: six prefixes and suffixes, then four whole
        // files (e, whose end differs, never).
        expect(seen).toEqual({ read: 6 * 8192 + 4 * SIZE, hashed: 6, changed: 0, errors: [] });
        // Nothing is left to the stages after the walk.
        expect((await port.hashing.prepareJobs('prefix')).jobs).toBe(0);
        expect((await port.hashing.prepareJobs('full')).jobs).toBe(0);
      } finally {
        await pools.close();
        c2.db.close();
      }
    },
  );
  it('reads a new inode with several links once, through its first path, and writes its hashes on every path; one that changes is left to the stages after the walk', async () => {
    const sub = join(dir, 'links');
    mkdirSync(join(sub, 'later'), { recursive: true });
    const SIZE = 100_000; // past the whole-read limit: prefix only
    const files: Record<string, string> = {
      a1: 'same-size-1', // a1 and later/a2: one inode
      b: 'same-size-2', // b's size makes a a candidate
      c1: 'C'.repeat(SIZE), // c1 and later/c2: one inode, read for its prefix
      d: `${'C'.repeat(SIZE / 2)}d${'C'.repeat(SIZE / 2 - 1)}`, // c's size and edges, other content
      e1: 'changes!', // e1 and e2: one inode, changed before it is read
      f: 'other-8b',
    };
    for (const [n, c] of Object.entries(files)) writeFileSync(join(sub, n), c);
    linkSync(join(sub, 'a1'), join(sub, 'later', 'a2'));
    linkSync(join(sub, 'c1'), join(sub, 'later', 'c2'));
    linkSync(join(sub, 'e1'), join(sub, 'e2'));
    const c3 = openCatalog(join(dir, 'links.db'));
    const pools = new LazyHashPool(2);
    try {
      const { dev, tree, seen, hasher } = await startScan({
        port: c3,
        root: sub,
        identity: 'test:walk-hasher-links',
        pools,
        shouldStop: () => false,
      });
      const summary = emptySummary();
      const device = { deviceId: dev.id } as Parameters<typeof mergeListing>[1]['device'];
      const listing = (rel: string, parentDirId: number | undefined, names: string[]) => ({
        abs: Buffer.from(join(sub, rel)),
        fsPath: Buffer.from(join('/', rel)),
        device,
        parentDirId,
        files: names.map((n) => ({
          name: Buffer.from(n),
          meta: toMeta(lstatSync(join(sub, rel, n), { bigint: true })),
        })),
        subdirs: rel === '' ? [Buffer.from('later')] : [],
        kept: [],
        fingerprint: undefined,
      });
      await c3.unitOfWork(async () => {
        const rootId = await mergeListing(
          { tree, hasher, summary },
          listing('', undefined, ['a1', 'b', 'c1', 'd', 'e1', 'e2', 'f']),
        );
        // Nothing is read before the walk asks: e changes before its read.
        appendFileSync(join(sub, 'e1'), '+');
        await hasher.finish();
        // a1, b, c1, d, f; not e.
        expect(await hasher.apply()).toBe(5);
        // The later paths of a and c, met after their inodes were read.
        await mergeListing({ tree, hasher, summary }, listing('later', rootId, ['a2', 'c2']));
        expect(await hasher.apply()).toBe(0);
      });
      const row = (n: string) =>
        c3.db
          .prepare('SELECT prefix_hash, suffix_hash, sha256 FROM files WHERE name = ?')
          .get(Buffer.from(n)) as Row & { suffix_hash: Buffer | null };
      const hex = (b: Buffer | null) => b?.toString('hex') ?? null;
      const digest = (c: string) => createHash('sha256').update(c).digest('hex');
      const prefixOf = (c: string) => digest(c.slice(0, 4096));
      // Every path of a has its hashes, written by row id: in the walk, or with its row.
      for (const n of ['a1', 'a2']) expect(hex(row(n).sha256)).toBe(digest(files.a1!));
      expect(hex(row('b').sha256)).toBe(digest(files.b!));
      // c read for its prefix only; its full read, paired with d's, is the full stage's.
      // c2, met after c's read, is inserted with c's packed digests, its suffix's included.
      for (const n of ['c1', 'c2', 'd']) {
        expect(hex(row(n).prefix_hash)).toBe(prefixOf(files.c1!));
        expect(hex(row(n).suffix_hash)).toBe(digest(files.c1!.slice(-4096)));
        expect(row(n).sha256).toBeNull();
      }
      for (const n of ['a1', 'a2', 'b']) expect(row(n).suffix_hash).toBeNull();
      // e changed under its read: no hashes, not reported here; the stages after the walk
      // read it (by any of its paths) and report it.
      for (const n of ['e1', 'e2']) expect(row(n).prefix_hash).toBeNull();
      expect(seen).toMatchObject({ hashed: 5, changed: 0, errors: [] });
      expect((await c3.hashing.prepareJobs('prefix')).jobs).toBe(1);
      // c (two paths, one job) and d; c's prefix was read once already: counted once.
      expect((await c3.hashing.prepareJobs('full')).jobs).toBe(2);
    } finally {
      await pools.close();
      c3.db.close();
    }
  });
});
