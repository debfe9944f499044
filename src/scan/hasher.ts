/**
 * What the hash queue (hash-queue.ts) asks of a hashing pool: the addon's threads
 * (hash-threads.ts) or Node's workers (hash-pool.ts).
 */
import type { HashStage } from '../catalog/hashing.js';
import type { HashJob, HashResultMessage } from './hash-job.js';

export interface Hasher {
  /** How many batches it reads at once. */
  readonly size: number;
  /** Resolves once it can take batches (a worker's start; the addon's threads at once). */
  readonly ready: Promise<void>;
  /**
   * Hash a batch for a stage: 'prefix' reads the prefix (and small files whole), 'full' and
   * 'all' read whole files.
   */
  run(stage: HashStage, jobs: readonly HashJob[]): Promise<HashResultMessage>;
  close(): Promise<void>;
}
