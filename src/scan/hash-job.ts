import type { ReadDigests } from '../catalog/scan-port.js';

/**
 * The messages between the scan and its hashing workers. A batch travels as a few flat typed
 * arrays whose buffers are transferred, not cloned: structured-cloning one small Buffer per path
 * copies its whole 8 KiB pool slab, which made the main thread the bottleneck.
 */

/** The prefix stage hashes this many leading bytes. */
export const PREFIX_BYTES = 4096;

/**
 * A file up to this size is read whole in the prefix stage: opening it costs more than reading
 * it, and reading it again for the full hash would cost a second open.
 */
export const WHOLE_READ_MAX = 64 * 1024;

export const DIGEST_BYTES = 32;

/**
 * Every read of a file larger than WHOLE_READ_MAX also digests its last SUFFIX_BYTES (its
 * prefix read included: one more read on the open file). Same-size files that share their
 * first 4 KiB, one header, often differ at their end (an audio file's trailing tag, a
 * container's index, a log's last line): the full stage pairs only files whose suffixes agree
 * too, and reads no such file whole. On the reference tree, 8 files (393 MB of the 1.52 GB a
 * first scan hashed) were such (bench/NOTES.md). rdfind and fclones compare the end too;
 * fclones in a stage of its own, for the files whose prefixes agree. Read with the prefix
 * instead, it costs no second open nor a second round through the workers; on a spinning disk
 * it is one more seek per large candidate, most of which are copies, read whole next anyway.
 */
export const SUFFIX_BYTES = 4096;

/** Whether a read of a file of this size gives its suffix digest (see SUFFIX_BYTES). */
export function hasSuffixDigest(size: bigint): boolean {
  return size > BigInt(WHOLE_READ_MAX);
}

/** A batch sent to a worker: this many files, or this many bytes to read, whichever first. */
export const BATCH_FILES = 256;
export const BATCH_BYTES = 64 * 1024 * 1024;

/** One inode to hash, with the identity it must still have. */
export interface HashJob {
  /** Absolute path (bytes) as it can be opened now. */
  readonly path: Buffer;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export interface HashBatchMessage {
  readonly batchId: number;
  /** false: prefix only (and the full hash too when size <= WHOLE_READ_MAX). */
  readonly full: boolean;
  readonly count: number;
  readonly paths: Uint8Array;
  /** End offset of each path in `paths`. */
  readonly pathEnds: Uint32Array;
  /** inode, size, mtime_ns, ctime_ns per job. */
  readonly meta: BigInt64Array;
}

export const enum HashStatus {
  Ok = 0,
  Changed = 1,
  Error = 2,
}

export interface HashResultMessage {
  readonly batchId: number;
  readonly status: Uint8Array;
  readonly prefix: Uint8Array;
  /** The suffix digest (SUFFIX_BYTES), 32 bytes per job, where hasSuffix says so. */
  readonly suffix: Uint8Array;
  readonly hasSuffix: Uint8Array;
  readonly sha256: Uint8Array;
  /** 1 when sha256 holds a full hash for that job. */
  readonly hasSha256: Uint8Array;
  readonly bytesRead: Float64Array;
  /** Error text by job index, for jobs whose status is Error. */
  readonly errors: Record<number, string>;
}

export function encodeBatch(
  batchId: number,
  full: boolean,
  jobs: readonly HashJob[],
): HashBatchMessage {
  let total = 0;
  for (const j of jobs) total += j.path.length;
  const paths = new Uint8Array(total);
  const pathEnds = new Uint32Array(jobs.length);
  const meta = new BigInt64Array(jobs.length * 4);
  let at = 0;
  jobs.forEach((j, i) => {
    paths.set(j.path, at);
    at += j.path.length;
    pathEnds[i] = at;
    meta[i * 4] = j.inode;
    meta[i * 4 + 1] = j.size;
    meta[i * 4 + 2] = j.mtimeNs;
    meta[i * 4 + 3] = j.ctimeNs;
  });
  return { batchId, full, count: jobs.length, paths, pathEnds, meta };
}

export function decodeJob(m: HashBatchMessage, i: number): HashJob {
  const start = i === 0 ? 0 : m.pathEnds[i - 1]!;
  return {
    path: Buffer.from(m.paths.buffer, m.paths.byteOffset + start, m.pathEnds[i]! - start),
    inode: m.meta[i * 4]!,
    size: m.meta[i * 4 + 1]!,
    mtimeNs: m.meta[i * 4 + 2]!,
    ctimeNs: m.meta[i * 4 + 3]!,
  };
}

/** The digests of job `i` of a result (its status must be Ok): suffix, sha256 where computed. */
export function digestsOf(r: HashResultMessage, i: number): ReadDigests {
  const at = i * DIGEST_BYTES;
  return {
    prefix: Buffer.from(r.prefix.subarray(at, at + DIGEST_BYTES)),
    suffix: r.hasSuffix[i] ? Buffer.from(r.suffix.subarray(at, at + DIGEST_BYTES)) : undefined,
    sha256: r.hasSha256[i] ? Buffer.from(r.sha256.subarray(at, at + DIGEST_BYTES)) : undefined,
  };
}

/** An empty result for a batch of `n` jobs, filled in by the worker. */
export function emptyResult(batchId: number, n: number): HashResultMessage {
  return {
    batchId,
    status: new Uint8Array(n),
    prefix: new Uint8Array(n * DIGEST_BYTES),
    suffix: new Uint8Array(n * DIGEST_BYTES),
    hasSuffix: new Uint8Array(n),
    sha256: new Uint8Array(n * DIGEST_BYTES),
    hasSha256: new Uint8Array(n),
    bytesRead: new Float64Array(n),
    errors: {},
  };
}

export function transferList(m: HashBatchMessage | HashResultMessage): ArrayBuffer[] {
  const views =
    'paths' in m
      ? [m.paths, m.pathEnds, m.meta]
      : [m.status, m.prefix, m.suffix, m.hasSuffix, m.sha256, m.hasSha256, m.bytesRead];
  return views.map((v) => v.buffer as ArrayBuffer);
}
