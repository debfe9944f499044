/** The messages between the scan and its hashing workers. */

/** The prefix stage hashes this many leading bytes. */
export const PREFIX_BYTES = 4096;

/**
 * A file up to this size is read whole in the prefix stage: opening it costs more than reading
 * it, and reading it again for the full hash would cost a second open.
 */
export const WHOLE_READ_MAX = 64 * 1024;

export interface HashJob {
  readonly id: number;
  /** Absolute path (bytes) as it can be opened now. */
  readonly path: Buffer;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  /** false: prefix only (and the full hash too when size <= WHOLE_READ_MAX). */
  readonly full: boolean;
}

export type HashResult =
  | {
      readonly id: number;
      readonly kind: 'ok';
      readonly prefix: Uint8Array;
      readonly sha256: Uint8Array | null;
      readonly bytesRead: number;
    }
  | { readonly id: number; readonly kind: 'changed'; readonly bytesRead: number }
  | {
      readonly id: number;
      readonly kind: 'error';
      readonly error: string;
      readonly bytesRead: number;
    };

export interface HashBatch {
  readonly batchId: number;
  readonly jobs: readonly HashJob[];
}

export interface HashBatchDone {
  readonly batchId: number;
  readonly results: readonly HashResult[];
}
