/**
 * The scan's hashing on the addon's own threads (native/hash-pool.cc): the same batches the
 * Node workers take (hash-job.ts), read and hashed by the same rules as hash-file.ts, large
 * files and paths past PATH_MAX included, and answered as the workers answer. What it saves is
 * the workers themselves: a V8 isolate each to start, compile and collect, a message cloned each
 * way per batch, and JavaScript per file and per chunk read (bench/NOTES.md).
 */
import type { NativeAddon, NativeHashBatch, NativeHashPool } from '../fs/native.js';
import { hashNice } from '../fs/process.js';
import {
  HashStatus,
  PREFIX_BYTES,
  SUFFIX_BYTES,
  WHOLE_READ_MAX,
  encodeBatch,
  type HashBatchMessage,
  type HashJob,
  type HashResultMessage,
} from './hash-job.js';
import type { HashStage } from '../catalog/hashing.js';
import { nativeErrorText } from './hash-native.js';
import type { Hasher } from './hasher.js';

interface Waiter {
  readonly batch: HashBatchMessage;
  readonly resolve: (r: HashResultMessage) => void;
  readonly reject: (e: Error) => void;
}

export class ThreadHashPool implements Hasher {
  private readonly pool: NativeHashPool;
  private readonly waiting = new Map<number, Waiter>();
  private nextBatch = 1;
  private failure: Error | undefined;
  /** The threads start with the pool: nothing to wait for. */
  readonly ready: Promise<void> = Promise.resolve();

  /** Throws where the addon cannot start a single thread (the caller then uses workers). */
  constructor(addon: Required<Pick<NativeAddon, 'HashPool'>>, size: number) {
    this.pool = new addon.HashPool(
      {
        threads: Math.max(1, size),
        nice: hashNice(),
        prefixBytes: PREFIX_BYTES,
        suffixBytes: SUFFIX_BYTES,
        wholeReadMax: WHOLE_READ_MAX,
      },
      (r) => this.done(r),
    );
    if (this.pool.threads === 0) {
      this.pool.close();
      throw new Error('the system started no hashing thread');
    }
  }

  get size(): number {
    return this.pool.threads;
  }

  run(stage: HashStage, jobs: readonly HashJob[]): Promise<HashResultMessage> {
    if (this.failure) return Promise.reject(this.failure);
    const batchId = this.nextBatch++;
    const batch = encodeBatch(batchId, stage !== 'prefix', jobs);
    return new Promise((resolve, reject) => {
      this.waiting.set(batchId, { batch, resolve, reject });
      this.pool.add(batchId, batch.full, batch.paths, batch.pathEnds, batch.meta);
    });
  }

  close(): Promise<void> {
    this.pool.close();
    return Promise.resolve();
  }

  private done(r: NativeHashBatch): void {
    const w = this.waiting.get(r.batchId);
    if (!w) return;
    this.waiting.delete(r.batchId);
    if (r.error !== undefined) {
      this.failure ??= new Error(r.error);
      w.reject(this.failure);
      return;
    }
    const errors: Record<number, string> = {};
    for (let i = 0; i < w.batch.count; i++) {
      if (r.status[i] === HashStatus.Error)
        errors[i] = nativeErrorText(w.batch, i, r.syscall[i]!, r.errno[i]!);
    }
    w.resolve({
      batchId: r.batchId,
      status: r.status,
      prefix: r.prefix,
      suffix: r.suffix,
      hasSuffix: r.hasSuffix,
      sha256: r.sha256,
      hasSha256: r.hasSha256,
      bytesRead: r.bytesRead,
      errors,
    });
  }
}
