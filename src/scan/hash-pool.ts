/**
 * A fixed pool of hashing workers; batches go to the least busy one. Start it through
 * LazyHashPool, which knows when the working directory is safe for workers to start.
 */
import { Worker } from 'node:worker_threads';
import type { HashStage } from '../catalog/hashing.js';
import { encodeBatch, transferList, type HashJob, type HashResultMessage } from './hash-job.js';

interface Slot {
  readonly worker: Worker;
  pending: number;
}

interface Waiter {
  readonly resolve: (r: HashResultMessage) => void;
  readonly reject: (e: Error) => void;
  readonly slot: Slot;
}

export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextBatch = 1;
  private failure: Error | undefined;
  private closing = false;
  private started = 0;
  private startedAll!: () => void;
  private startFailed!: (e: Error) => void;
  /** Resolves once every worker has started. */
  readonly ready: Promise<void>;

  constructor(size: number) {
    this.ready = new Promise((resolve, reject) => {
      this.startedAll = resolve;
      this.startFailed = reject;
    });
    // Not every caller awaits `ready` before the first batch; a failure reaches them there.
    this.ready.catch(() => undefined);
    // Named from the folder above, not './': in the bundle this code sits in dist/cli/main.js,
    // beside no worker (scripts/build.mjs: every built file is two folders below the root).
    const url = new URL('../scan/hash-worker.js', import.meta.url);
    for (let i = 0; i < Math.max(1, size); i++) {
      // A worker only streams files through one reused buffer: a small young generation keeps
      // each isolate's resident size down (peak RSS is a target, DESIGN §6 T5).
      const worker = new Worker(url, {
        resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 128 },
      });
      const slot: Slot = { worker, pending: 0 };
      worker.on('message', (done: HashResultMessage | { ready: true }) => {
        if ('ready' in done) {
          if (++this.started === this.slots.length) this.startedAll();
          return;
        }
        const w = this.waiting.get(done.batchId);
        if (!w) return;
        this.waiting.delete(done.batchId);
        w.slot.pending--;
        w.resolve(done);
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`hash worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.startFailed(err);
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(err);
    }
  }

  /**
   * Hash a batch for a stage: 'prefix' reads the prefix (and small files whole), 'full' and
   * 'all' read whole files.
   */
  run(stage: HashStage, jobs: readonly HashJob[]): Promise<HashResultMessage> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    const batchId = this.nextBatch++;
    slot.pending++;
    const msg = encodeBatch(batchId, stage !== 'prefix', jobs);
    return new Promise((resolve, reject) => {
      this.waiting.set(batchId, { resolve, reject, slot });
      slot.worker.postMessage(msg, transferList(msg));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/**
 * The scan's hashing workers, started on first use: a rescan that reads nothing starts none.
 * A worker reads the process's working directory while it starts, and the walk moves it into
 * the tree, where its path may be longer than PATH_MAX (uv_cwd fails). So `get()` is only
 * awaited where the walk is paused between directories (it sets the working directory again
 * for each directory it lists) or after it, and starts the workers from '/' when the working
 * directory cannot be read; nothing changes it until they are ready.
 */
export class LazyHashPool {
  private pool: HashPool | undefined;
  constructor(readonly jobs: number) {}

  /** The running pool, if started. */
  get started(): HashPool | undefined {
    return this.pool;
  }

  async get(): Promise<HashPool> {
    if (!this.pool) {
      try {
        process.cwd();
      } catch {
        process.chdir('/');
      }
      this.pool = new HashPool(this.jobs);
    }
    await this.pool.ready;
    return this.pool;
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}
