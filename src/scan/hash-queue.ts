/**
 * How the walk's hashing (walk-hasher.ts) gets its jobs read: batches for the workers, their
 * backpressure on the walk, and the results they return, in order of arrival. What to read,
 * and what becomes of each result, is walk-hasher.ts's; each job carries its `P` through.
 *
 * Two lanes:
 * - `walk`: the walk's own stage (prefix reads, or whole files with `--hash all`). The rows of
 *   these files wait in memory until their results come back, so the walk waits while as many
 *   batches as the workers can queue are in flight.
 * - `full`: whole reads of prefix pairs (prefix-pairs.ts), whose rows are already written.
 *   While the walk goes on they go one batch at a time, of at most FULL_BATCH_BYTES: a worker
 *   reads them while the other (the least busy: hash-pool.ts) keeps up with the walk's lane.
 *   Counted against the walk's backpressure, 64 MB batches of them stalled the walk. Once the
 *   walk is done (finish()), every worker takes them.
 */
import { BATCH_BYTES, BATCH_FILES, PREFIX_BYTES, type HashResultMessage } from './hash-job.js';
import type { HashJob } from './hash-job.js';
import type { LazyHashPool } from './hash-pool.js';
import type { Hasher } from './hasher.js';
import type { HashStage } from '../catalog/scan-port.js';

const FULL_BATCH_BYTES = 16 * 1024 * 1024;

export type Lane = 'walk' | 'full';

/** A batch the workers answered: its jobs, what becomes of each, and their results. */
export interface Finished<P> {
  readonly pending: readonly P[];
  readonly jobs: readonly HashJob[];
  readonly r: HashResultMessage;
}

/** Jobs for the workers in one stage, what becomes of each, and its batches in flight. */
class Batch<P> {
  jobs: HashJob[] = [];
  pending: P[] = [];
  bytes = 0;
  readonly inflight = new Set<Promise<void>>();
  constructor(readonly stage: HashStage) {}
}

export class HashQueue<P> {
  private readonly walk: Batch<P>;
  private readonly full = new Batch<P>('full');
  private readonly inflight = new Set<Promise<void>>();
  private done: Finished<P>[] = [];
  private failure: unknown;
  /** finish() was called, and no walk has queued a read since. */
  private walkDone = false;

  constructor(
    /** Started when the first file is to be read, at a pause of the walk. */
    private readonly pools: LazyHashPool,
    /** The walk lane's stage: 'prefix', or 'all' (`--hash all`). */
    stage: Extract<HashStage, 'prefix' | 'all'>,
    /**
     * The user asked to stop: no full read is sent any more, and those queued are dropped (the
     * next scan's full stage reads them). The walk lane's rows wait for their batches in flight.
     */
    private readonly shouldStop: () => boolean,
  ) {
    this.walk = new Batch(stage);
  }

  /** Queue a job on a lane; `p` comes back with its result. */
  add(lane: Lane, p: P, job: HashJob): void {
    if (lane === 'full' && this.shouldStop()) return;
    // A scan of several roots walks again after finish(): full reads go one at a time again.
    if (lane === 'walk') this.walkDone = false;
    const batch = lane === 'walk' ? this.walk : this.full;
    batch.pending.push(p);
    batch.jobs.push(job);
    batch.bytes += batch.stage === 'prefix' ? PREFIX_BYTES : Number(job.size);
    // Without workers yet (none started before the walk needed one), the batch waits for
    // wait(), at the end of the directory.
    const pool = this.pools.started;
    if (!pool) return;
    if (lane === 'full') this.sendFull(pool);
    else if (batch.jobs.length >= BATCH_FILES || batch.bytes >= BATCH_BYTES)
      void this.flush(pool, batch);
  }

  /**
   * Backpressure for the walk: a promise while as many of its batches as the workers can queue
   * are in flight (the rows they carry wait in memory), otherwise undefined.
   */
  wait(): Promise<void> | undefined {
    const pool = this.pools.started;
    if (!pool) return this.walk.jobs.length > 0 ? this.start() : undefined;
    this.sendFull(pool);
    const walk = this.walk.inflight;
    if (walk.size === 0) void this.flush(pool, this.walk); // keep the workers busy
    const limit = pool.size * 2;
    if (walk.size < limit) return undefined;
    return (async () => {
      while (walk.size >= limit) await Promise.race(walk);
    })();
  }

  /**
   * The walk is over: send what is queued, every worker taking full reads from now on, without
   * waiting for the results (finish() waits).
   */
  async send(): Promise<void> {
    this.walkDone = true;
    if (this.walk.jobs.length > 0 || this.full.jobs.length > 0) {
      const pool = await this.pools.get();
      void this.flush(pool, this.walk);
      this.sendFull(pool);
    }
  }

  /** Send what is queued and wait for every result, full reads queued meanwhile included. */
  async finish(): Promise<void> {
    await this.send();
    // A full batch that ends sends the next (sendFull): wait until none is left.
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }

  /** Whether take() has results (or a failure to throw). */
  hasResults(): boolean {
    return this.done.length > 0 || this.failure !== undefined;
  }

  /** Whether anything is queued, in flight or not yet taken. */
  hasQueued(): boolean {
    this.dropFullIfStopped();
    return (
      this.walk.jobs.length > 0 ||
      this.full.jobs.length > 0 ||
      this.inflight.size > 0 ||
      this.hasResults()
    );
  }

  /** The batches answered so far, in order of arrival; throws a batch's failure. */
  take(): Finished<P>[] {
    if (this.failure) throw this.failure;
    const done = this.done;
    this.done = [];
    return done;
  }

  private async start(): Promise<void> {
    void this.flush(await this.pools.get(), this.walk);
  }

  /** Send the next full batches, up to one in flight while the walk goes on. */
  private sendFull(pool: Hasher): void {
    this.dropFullIfStopped();
    const full = this.full;
    const most = this.walkDone ? pool.size : 1;
    while (full.inflight.size < most && full.jobs.length > 0 && this.failure === undefined) {
      let n = 0;
      let bytes = 0;
      while (n < full.jobs.length && n < BATCH_FILES && bytes < FULL_BATCH_BYTES)
        bytes += Number(full.jobs[n++]!.size);
      void this.flush(pool, full, n).then(() => this.sendFull(pool));
    }
  }

  private dropFullIfStopped(): void {
    if (this.full.jobs.length === 0 || !this.shouldStop()) return;
    this.full.jobs = [];
    this.full.pending = [];
    this.full.bytes = 0;
  }

  /** Send a batch's first n jobs (all by default). */
  private flush(pool: Hasher, batch: Batch<P>, n = batch.jobs.length): Promise<void> {
    if (n === 0) return Promise.resolve();
    const jobs = batch.jobs.splice(0, n);
    const pending = batch.pending.splice(0, n);
    batch.bytes = 0;
    for (const j of batch.jobs)
      batch.bytes += batch.stage === 'prefix' ? PREFIX_BYTES : Number(j.size);
    const p: Promise<void> = pool.run(batch.stage, jobs).then(
      (r) => {
        this.done.push({ pending, jobs, r });
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    this.inflight.add(p);
    batch.inflight.add(p);
    void p.finally(() => {
      this.inflight.delete(p);
      batch.inflight.delete(p);
    });
    return p;
  }
}
