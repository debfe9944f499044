/**
 * The directories a walk will list, and their listings: the walk adds each directory it is to
 * enter and takes listings back one at a time, in an order the queue chooses.
 *
 * - **Ahead** (the native addon's list pool, native/list-pool.cc): up to `AHEAD` directories
 *   are listed on threads of their own while the walk compares earlier listings with the
 *   catalog; listings come back as they finish (the walk's order is no longer depth-first).
 * - **In turn** (the pure-JS lister, or no thread could start): the directory added last is
 *   listed when it is taken, on the walk's thread: depth-first, as the walk always was.
 *
 * Paths at or beyond PATH_MAX are reached through an open parent (reach.ts) and listed in turn
 * either way: the pool's threads take only paths the kernel resolves whole.
 */
import { availableParallelism } from 'node:os';
import type { DirIdentity, DirLister, DirRead } from './dir-list.js';
import { JsDirLister } from './js-list.js';
import { decodeListing, listingFailed, NativeDirLister } from './native-list.js';
import { nativeStatus, type NativeListPool } from './native.js';
import { PathReach, SHORT_PATH_LIMIT } from './reach.js';

/** Directories listed ahead of the walk at most (queued or listed, not yet taken). */
const AHEAD = 64;
/** Bytes of finished listings the pool holds for the walk before its threads wait. */
const MAX_DONE_BYTES = 32 * 1024 * 1024;
/** Bytes of listings taken from the pool and not yet walked, past which no more are queued. */
const MAX_AHEAD_BYTES = 32 * 1024 * 1024;

/** How far ahead of the walk the pool lists (tests narrow it). */
export interface AheadLimits {
  /** Directories given to the pool and not yet returned by next(). */
  readonly dirs: number;
  /** Bytes of listings taken from the pool and not yet returned, past which none is given. */
  readonly bytes: number;
}

const AHEAD_LIMITS: AheadLimits = { dirs: AHEAD, bytes: MAX_AHEAD_BYTES };

export interface Listed<T> {
  readonly item: T;
  readonly read: DirRead;
}

export interface ListingQueue<T> {
  /** 'ahead': listed on the pool's threads; 'in-turn': listed by next() on the caller's thread. */
  readonly mode: 'ahead' | 'in-turn';
  /** Queue the directory at `abs` (what its parent's listing said it is: `expect`). */
  add(item: T, abs: Buffer, expect: DirIdentity): void;
  /** Directories added and not yet returned. */
  readonly pending: number;
  /** What is listed ahead now: as AheadLimits counts it (nothing, in turn). */
  readonly ahead: { readonly dirs: number; readonly bytes: number };
  /** The next listing; undefined when nothing is pending. */
  next(): Listed<T> | undefined;
  /** Stops the pool's threads (a listing in progress finishes first) and forgets what is queued. */
  close(): void;
}

interface Queued<T> {
  readonly item: T;
  readonly abs: Buffer;
  readonly expect: DirIdentity;
}

/** How many threads list ahead: HASHALL_LIST_THREADS, else the CPUs (at least 2, at most 8). */
export function listThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.HASHALL_LIST_THREADS;
  if (v !== undefined && /^\d+$/.test(v)) return Math.min(Number(v), 64);
  return Math.min(8, Math.max(2, availableParallelism()));
}

/** Lists one directory on the calling thread, reaching long paths through an open parent. */
function listNow<T>(lister: DirLister, reach: PathReach, q: Queued<T>): Listed<T> {
  let read: DirRead;
  try {
    read = lister.list(reach.reach(q.abs), q.expect);
  } catch (error) {
    read = { kind: 'failed', error }; // reaching a path beyond PATH_MAX failed
  }
  return { item: q.item, read };
}

/** Depth-first, each directory listed as it is taken. */
class InTurnQueue<T> implements ListingQueue<T> {
  readonly mode = 'in-turn';
  private readonly stack: Queued<T>[] = [];
  private readonly reach = new PathReach();

  constructor(private readonly lister: DirLister) {}

  get pending(): number {
    return this.stack.length;
  }

  readonly ahead = { dirs: 0, bytes: 0 };

  add(item: T, abs: Buffer, expect: DirIdentity): void {
    this.stack.push({ item, abs, expect });
  }

  next(): Listed<T> | undefined {
    const q = this.stack.pop();
    return q && listNow(this.lister, this.reach, q);
  }

  close(): void {
    this.stack.length = 0;
    this.lister.close();
    this.reach.close();
  }
}

/** What the pool listed, decoded when the walk takes it; or a long path listed in turn. */
type Ready<T> =
  | { readonly q: Queued<T>; readonly raw: unknown; readonly bytes: number }
  | { readonly listed: Listed<T>; readonly bytes: 0 };

/**
 * Listed on the pool's threads, at most AHEAD directories (and about MAX_AHEAD_BYTES of
 * listings) ahead of the walk: in the pool, or listed and not yet taken by the walk.
 */
class AheadQueue<T> implements ListingQueue<T> {
  readonly mode = 'ahead';
  /** Added, not yet given to the pool: the last added goes first, as the walk's stack did. */
  private readonly backlog: Queued<T>[] = [];
  /** Given to the pool, by token. */
  private readonly inPool = new Map<number, Queued<T>>();
  /** Listed, not yet returned; decoded only when returned (a listing's entries cost more). */
  private ready: (Ready<T> | undefined)[] = [];
  private readyAt = 0;
  private readyBytes = 0;
  private nextToken = 0;
  private readonly reach = new PathReach();

  constructor(
    private readonly pool: NativeListPool,
    private readonly lister: DirLister,
    private readonly limits: AheadLimits,
  ) {}

  get pending(): number {
    return this.backlog.length + this.inPool.size + this.ready.length - this.readyAt;
  }

  get ahead(): { dirs: number; bytes: number } {
    return { dirs: this.inPool.size + this.ready.length - this.readyAt, bytes: this.readyBytes };
  }

  add(item: T, abs: Buffer, expect: DirIdentity): void {
    this.backlog.push({ item, abs, expect });
  }

  next(): Listed<T> | undefined {
    if (this.readyAt === this.ready.length) {
      this.ready = [];
      this.readyAt = 0;
    }
    this.fill();
    // Nothing listed yet: wait for the pool, when it has something.
    if (this.readyAt === this.ready.length && this.inPool.size > 0) this.takeFromPool(true);
    if (this.readyAt === this.ready.length) return undefined;
    const r = this.ready[this.readyAt]!;
    this.ready[this.readyAt++] = undefined;
    this.readyBytes -= r.bytes;
    if ('listed' in r) return r.listed;
    const { q, raw } = r;
    const read = Buffer.isBuffer(raw) ? decodeListing(raw) : listingFailed(raw, q.abs);
    return { item: q.item, read };
  }

  close(): void {
    this.pool.close();
    this.backlog.length = 0;
    this.inPool.clear();
    this.ready = [];
    this.readyAt = 0;
    this.readyBytes = 0;
    this.reach.close();
  }

  /** Hands the pool what the backlog holds while the walk is not too far behind; takes what it finished. */
  private fill(): void {
    while (
      this.backlog.length > 0 &&
      this.inPool.size + this.ready.length - this.readyAt < this.limits.dirs &&
      this.readyBytes < this.limits.bytes
    ) {
      const q = this.backlog.pop()!;
      if (q.abs.length >= SHORT_PATH_LIMIT) {
        this.ready.push({ listed: listNow(this.lister, this.reach, q), bytes: 0 });
        continue;
      }
      const token = this.nextToken++ >>> 0;
      this.pool.add(token, q.abs, q.expect.dev, q.expect.ino);
      this.inPool.set(token, q);
    }
    if (this.inPool.size > 0) this.takeFromPool(false);
  }

  private takeFromPool(wait: boolean): void {
    const got = this.pool.take(wait);
    for (let i = 0; i < got.length; i += 2) {
      const token = got[i] as number;
      const q = this.inPool.get(token);
      if (!q) continue;
      this.inPool.delete(token);
      const raw = got[i + 1];
      const bytes = Buffer.isBuffer(raw) ? raw.length : 0;
      this.readyBytes += bytes;
      this.ready.push({ q, raw, bytes });
    }
  }
}

/**
 * The queue a walk lists through: ahead on the addon's threads where it can ('ahead-if-able'),
 * else in turn; 'in-turn' always lists each directory only when the walk takes it.
 */
export function openListingQueue<T>(
  how: 'ahead-if-able' | 'in-turn' = 'ahead-if-able',
  limits: AheadLimits = AHEAD_LIMITS,
): ListingQueue<T> {
  const s = nativeStatus();
  if (s.kind !== 'loaded') return new InTurnQueue<T>(new JsDirLister());
  const lister = new NativeDirLister(s.addon);
  const threads = how === 'in-turn' ? 0 : listThreads();
  if (s.addon.ListPool && threads > 0) {
    const pool = new s.addon.ListPool(threads, MAX_DONE_BYTES);
    if (pool.threads > 0) return new AheadQueue<T>(pool, lister, limits);
    pool.close();
  }
  return new InTurnQueue<T>(lister);
}
