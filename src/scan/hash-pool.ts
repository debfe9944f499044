/**
 * The scan's hashing: the addon's threads (hash-threads.ts) where it loaded, else a fixed pool
 * of Node worker threads (below), the pure-JS way. Start either through LazyHashPool, which
 * knows when the working directory is safe for workers to start.
 */
import { Worker } from 'node:worker_threads';
import type { HashStage } from '../catalog/hashing.js';
import { debugNote } from '../debug-note.js';
import { nativeStatus } from '../fs/native.js';
import { encodeBatch, transferList, type HashJob, type HashResultMessage } from './hash-job.js';
import type { Hasher } from './hasher.js';
import { ThreadHashPool } from './hash-threads.js';

export { ThreadHashPool, type Hasher };

/** Which pool hashes: HASHALL_HASH_POOL=workers asks for Node's workers where the addon loaded. */
export type HashPoolKind = 'threads' | 'workers';

export function hashPoolKind(env: NodeJS.ProcessEnv = process.env): HashPoolKind {
  return env.HASHALL_HASH_POOL === 'workers' ? 'workers' : 'threads';
}

/** A pool of `size`: the addon's threads where asked and possible, else Node's workers. */
export function startHashPool(size: number, kind: HashPoolKind = hashPoolKind()): Hasher {
  const native = nativeStatus();
  if (kind === 'threads' && native.kind === 'loaded' && native.addon.HashPool) {
    try {
      return new ThreadHashPool({ HashPool: native.addon.HashPool }, size);
    } catch (err) {
      debugNote(`hashing threads not started (${String(err)}); using worker threads`);
    }
  }
  return new HashPool(size);
}

interface Slot {
  readonly worker: Worker;
  pending: number;
}

interface Waiter {
  readonly resolve: (r: HashResultMessage) => void;
  readonly reject: (e: Error) => void;
  readonly slot: Slot;
}

/** Node worker threads (hash-worker.ts); batches go to the least busy one. */
export class HashPool implements Hasher {
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
 * The scan's hashing pool, started on first use: a rescan that reads nothing starts none.
 * A worker reads the process's working directory while it starts, and the JS walk moves it into
 * the tree, where its path may be longer than PATH_MAX (uv_cwd fails). So `get()` is only
 * awaited where the walk is paused between directories (it sets the working directory again
 * for each directory it lists) or after it, and starts the workers from '/' when the working
 * directory cannot be read; nothing changes it until they are ready. (The addon's threads read
 * no working directory and are ready as they start.)
 */
export class LazyHashPool {
  private pool: Hasher | undefined;
  constructor(
    readonly jobs: number,
    private readonly kind: HashPoolKind = hashPoolKind(),
  ) {}

  /** The running pool, if started. */
  get started(): Hasher | undefined {
    return this.pool;
  }

  async get(): Promise<Hasher> {
    if (!this.pool) {
      try {
        process.cwd();
      } catch {
        process.chdir('/');
      }
      this.pool = startHashPool(this.jobs, this.kind);
    }
    await this.pool.ready;
    return this.pool;
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}
