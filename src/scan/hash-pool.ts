/** A fixed pool of hashing workers; batches go to the least busy one. */
import { Worker } from 'node:worker_threads';
import type { HashBatchDone, HashJob, HashResult } from './hash-job.js';

interface Slot {
  readonly worker: Worker;
  pending: number;
}

export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (r: readonly HashResult[]) => void; reject: (e: Error) => void; slot: Slot }
  >();
  private nextBatch = 1;
  private failure: Error | undefined;

  constructor(size: number) {
    const url = new URL('./hash-worker.js', import.meta.url);
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(url);
      const slot: Slot = { worker, pending: 0 };
      worker.on('message', (done: HashBatchDone) => {
        const w = this.waiting.get(done.batchId);
        if (!w) return;
        this.waiting.delete(done.batchId);
        w.slot.pending--;
        w.resolve(done.results);
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`hash worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(err);
    }
  }

  run(jobs: readonly HashJob[]): Promise<readonly HashResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.slots.reduce((a, b) => (b.pending < a.pending ? b : a));
    const batchId = this.nextBatch++;
    slot.pending++;
    return new Promise((resolve, reject) => {
      this.waiting.set(batchId, { resolve, reject, slot });
      slot.worker.postMessage({ batchId, jobs });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
