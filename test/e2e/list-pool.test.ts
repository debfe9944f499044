/**
 * The addon's list pool (native/list-pool.cc): directories listed on threads of its own must
 * come back exactly as listDir lists them on the calling thread (the same bytes, so the same
 * fingerprints a rescan compares), each once, errors included; its threads must wait when the
 * walk stops taking, and never keep a process from exiting cleanly (closed or not, in a worker
 * or not); the walk's queue gives it no more than its bounds allow. .ci/smoke.sh runs this
 * file on every Node line.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { lstatSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AheadLimits } from '../../src/fs/listing-queue.js';
import type { NativeAddon, NativeListPool } from '../../src/fs/native.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function loadAddon(): NativeAddon | string {
  // The addon itself, whatever HASHALL_NATIVE says (that picks the walk, not what is tested).
  try {
    const require = createRequire(import.meta.url);
    const gypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
    const addon = gypBuild(ROOT);
    return addon.ListPool ? addon : 'the built addon has no list pool (npm run build:native)';
  } catch (err) {
    return `the native addon did not load (${String(err)})`;
  }
}

const addon = loadAddon();
const needAddon = (ctx: { skip: (note?: string) => void }): NativeAddon => {
  if (typeof addon !== 'string') return addon;
  if (process.env.HASHALL_REQUIRE_NATIVE === '1') throw new Error(addon);
  console.warn(`skipping: ${addon}`);
  ctx.skip(addon);
  throw new Error('unreachable');
};

interface Dir {
  readonly path: Buffer;
  readonly dev: bigint;
  readonly ino: bigint;
}

let base: string;
const dirs: Dir[] = [];
beforeAll(() => {
  base = realpathSync(tempDir());
  for (let d = 0; d < 300; d++) {
    const p = join(base, `d${d}`);
    mkdirSync(join(p, 'sub'), { recursive: true });
    for (let f = 0; f < d % 17; f++) writeFileSync(join(p, `f${f}`), 'x'.repeat(f));
    const st = lstatSync(p, { bigint: true });
    dirs.push({ path: Buffer.from(p), dev: st.dev, ino: st.ino });
  }
});
afterAll(() => removeTree(base));

/** Everything the pool lists for `jobs`, by token, taking as a walk does. */
function listAll(pool: NativeListPool, jobs: readonly Dir[]): Map<number, unknown> {
  jobs.forEach((d, token) => pool.add(token, d.path, d.dev, d.ino));
  const got = new Map<number, unknown>();
  for (;;) {
    const out = pool.take(true);
    if (out.length === 0) break;
    for (let i = 0; i < out.length; i += 2) {
      expect(got.has(out[i] as number)).toBe(false);
      got.set(out[i] as number, out[i + 1]);
    }
  }
  return got;
}

describe('native list pool', () => {
  it('lists each directory once, with the bytes listDir gives, errors as listDir throws them', (ctx) => {
    const a = needAddon(ctx);
    const gone = { path: Buffer.from(join(base, 'missing')), dev: dirs[0]!.dev, ino: 1n };
    const aFile = join(base, 'd5', 'f1');
    const file = { path: Buffer.from(aFile), dev: dirs[0]!.dev, ino: 2n };
    // d1's identity given for d2: a directory replaced since its parent was listed.
    const swapped = { path: dirs[2]!.path, dev: dirs[1]!.dev, ino: dirs[1]!.ino };
    // A directory swapped for a symlink to another: refused, never listed through.
    const link = join(base, 'link');
    symlinkSync(dirs[3]!.path.toString(), link);
    const viaLink = { path: Buffer.from(link), dev: dirs[3]!.dev, ino: dirs[3]!.ino };
    const jobs = [...dirs, gone, file, swapped, viaLink];
    const pool = new a.ListPool!(4, 32 << 20);
    expect(pool.threads).toBe(4);
    const got = listAll(pool, jobs);
    pool.close();
    expect(got.size).toBe(jobs.length);
    jobs.forEach((d, token) => {
      let want: unknown;
      try {
        want = a.listDir(d.path, d.dev, d.ino);
      } catch (err) {
        want = err;
      }
      const have = got.get(token);
      if (Buffer.isBuffer(want)) {
        expect(Buffer.isBuffer(have)).toBe(true);
        expect((have as Buffer).equals(want)).toBe(true);
      } else {
        const { errno, syscall, message } = want as Error & { errno: number; syscall: string };
        expect(have).toMatchObject({ errno, syscall, message });
      }
    });
    expect(got.get(dirs.length)).toMatchObject({ errno: -2, syscall: 'open' }); // ENOENT
    expect(got.get(dirs.length + 1)).toMatchObject({ errno: -20, syscall: 'open' }); // ENOTDIR
    // The swapped directory: a header with the changed flag (offset 28) and no entry.
    const changed = got.get(dirs.length + 2) as Buffer;
    expect([changed.readUInt32LE(28), changed.readUInt32LE(4)]).toEqual([1, 0]);
    // O_DIRECTORY | O_NOFOLLOW on a symlink: ENOTDIR (the link itself is not a directory).
    expect(got.get(dirs.length + 3)).toMatchObject({ errno: -20, syscall: 'open' });
  });

  it('holds its threads while the walk takes nothing, and lists everything once it takes', (ctx) => {
    const a = needAddon(ctx);
    // One byte of room: after the first listing each thread waits until the walk takes.
    const pool = new a.ListPool!(2, 1);
    dirs.forEach((d, token) => pool.add(token, d.path, d.dev, d.ino));
    const deadline = Date.now() + 300;
    while (Date.now() < deadline); // the threads run meanwhile; the walk takes nothing
    const first = pool.take(false);
    // At most one finished listing per thread before they had to wait.
    expect(first.length / 2).toBeGreaterThan(0);
    expect(first.length / 2).toBeLessThanOrEqual(2);
    const seen = new Set<number>();
    for (let i = 0; i < first.length; i += 2) seen.add(first[i] as number);
    for (;;) {
      const out = pool.take(true);
      if (out.length === 0) break;
      for (let i = 0; i < out.length; i += 2) seen.add(out[i] as number);
    }
    expect(seen.size).toBe(dirs.length);
    pool.close();
    pool.close(); // twice: nothing happens
    expect(() => pool.add(0, dirs[0]!.path, dirs[0]!.dev, dirs[0]!.ino)).toThrow(/closed/);
    expect(pool.take(true)).toEqual([]);
  });

  it('refuses a path the kernel would not take whole', (ctx) => {
    const a = needAddon(ctx);
    const pool = new a.ListPool!(1, 1 << 20);
    const long = Buffer.from('/' + 'x'.repeat(5000));
    expect(() => pool.add(0, long, 1n, 1n)).toThrow(/ENAMETOOLONG/);
    expect(() => pool.add(0, Buffer.from('/tmp\0x'), 1n, 1n)).toThrow(/ENAMETOOLONG/);
    pool.close();
  });

  it('never keeps a process from exiting: unclosed, busy, or in a worker that is terminated', (ctx) => {
    needAddon(ctx);
    const gypBuild = createRequire(import.meta.url).resolve('node-gyp-build');
    const jobs = dirs.map((d) => [d.path.toString(), String(d.dev), String(d.ino)]);
    // plain: a busy pool left unclosed at exit; gc: one collected while busy (its finalizer
    // stops it); worker: a busy pool in a worker thread that is terminated.
    const script = `
      const { Worker, isMainThread, parentPort } = require('node:worker_threads');
      const addon = require(${JSON.stringify(gypBuild)})(${JSON.stringify(ROOT)});
      const jobs = ${JSON.stringify(jobs)};
      const busyPool = () => {
        const pool = new addon.ListPool(4, 1 << 30);
        for (let r = 0; r < 20; r++)
          jobs.forEach(([p, dev, ino], i) => pool.add(r * 1000 + i, Buffer.from(p), BigInt(dev), BigInt(ino)));
        return pool;
      };
      const mode = isMainThread ? process.argv[2] : 'in-worker';
      if (mode === 'worker') {
        const w = new Worker(__filename);
        w.on('message', () => w.terminate().then(() => console.log('TERMINATED')));
      } else if (mode === 'in-worker') {
        globalThis.kept = busyPool();
        setInterval(() => {}, 1000);
        parentPort.postMessage('busy');
      } else if (mode === 'gc') {
        busyPool();
        global.gc();
        setTimeout(() => { global.gc(); console.log('EXITING'); }, 10);
      } else {
        globalThis.kept = busyPool();
        console.log('EXITING');
      }
    `;
    const dir = tempDir();
    try {
      const file = join(dir, 'exit.cjs');
      writeFileSync(file, script);
      for (const mode of ['plain', 'gc', 'worker']) {
        const r = spawnSync(process.execPath, ['--expose-gc', file, mode], {
          encoding: 'utf8',
          timeout: 60_000,
          cwd: ROOT,
        });
        expect({ mode, code: r.status, signal: r.signal, err: r.stderr }).toEqual({
          mode,
          code: 0,
          signal: null,
          err: '',
        });
        expect(r.stdout).toContain(mode === 'worker' ? 'TERMINATED' : 'EXITING');
      }
    } finally {
      removeTree(dir);
    }
  });
});

/**
 * The walk's side of the bound (fs/listing-queue.ts): at most `dirs` directories given to the
 * pool and not yet returned, and none given while `bytes` of listings wait to be returned.
 * Walked as the walker does: each listing returned, then its subdirectories added.
 */
describe('the listing queue ahead of the walk', () => {
  /** Every observation of `ahead` after a next(), walking `base` through a queue with `limits`. */
  async function walkAhead(
    ctx: { skip: (note?: string) => void },
    limits: AheadLimits,
  ): Promise<{ dirs: number; bytes: number }[]> {
    needAddon(ctx);
    const { openListingQueue } = await import('../../src/fs/listing-queue.js');
    const q = openListingQueue<Buffer>('ahead-if-able', limits);
    if (q.mode !== 'ahead') {
      q.close();
      const why = `the walk lists in turn here (HASHALL_NATIVE=${process.env.HASHALL_NATIVE})`;
      console.warn(`skipping: ${why}`);
      ctx.skip(why);
    }
    const seen: { dirs: number; bytes: number }[] = [];
    const st = lstatSync(base, { bigint: true });
    q.add(Buffer.from(base), Buffer.from(base), { dev: st.dev, ino: st.ino });
    let listed = 0;
    try {
      for (let l = q.next(); l; l = q.next()) {
        listed++;
        seen.push(q.ahead);
        if (l.read.kind !== 'listed') throw new Error(`${l.item} was not listed`);
        for (const e of l.read.entries) {
          if (e.kind !== 'dir') continue;
          const p = Buffer.concat([l.item, Buffer.from('/'), e.name]);
          q.add(p, p, e.stat());
        }
      }
    } finally {
      q.close();
    }
    expect(listed, 'every directory listed once: the base, 300, and their subs').toBe(601);
    return seen;
  }

  it('gives the pool at most `dirs` directories ahead, and keeps it that far ahead', async (ctx) => {
    const seen = await walkAhead(ctx, { dirs: 8, bytes: 1 << 30 });
    const most = Math.max(...seen.map((s) => s.dirs));
    // Observed after one was returned: the pool had `dirs` at most, and did reach it.
    expect(most).toBeLessThanOrEqual(8);
    expect(most).toBeGreaterThanOrEqual(7);
  });

  it('gives it nothing more while listings taken from it wait to be returned', async (ctx) => {
    // One byte: any listing waiting holds the queue back until the walk has returned it.
    const seen = await walkAhead(ctx, { dirs: 64, bytes: 1 });
    let held = 0;
    for (let i = 1; i < seen.length; i++) {
      if (seen[i - 1]!.bytes === 0) continue;
      held++;
      expect(seen[i]!.dirs, `observation ${i}: nothing given while bytes waited`).toBeLessThan(
        seen[i - 1]!.dirs,
      );
    }
    expect(held, 'listings did wait (the pool ran ahead)').toBeGreaterThan(10);
    // And without the byte bound the same walk keeps refilling: the check above can fail.
    const free = await walkAhead(ctx, { dirs: 64, bytes: 1 << 30 });
    const rose = free.some(
      (s, i) => i > 0 && free[i - 1]!.bytes > 0 && s.dirs >= free[i - 1]!.dirs,
    );
    expect(rose).toBe(true);
  });
});
