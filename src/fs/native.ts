/**
 * Loading the native addon (native/walk.cc), node-gyp-build style: a prebuilt binary from
 * prebuilds/ first, then what the install step compiled into build/Release. Where it cannot load
 * (no compiler at install time, another platform, an ABI it was not built for) hashall uses the
 * pure-JS walk, which passes the same tests; why is said only under --debug. HASHALL_NATIVE=0
 * forces the JS walk (the test suites run both ways).
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { debugNote } from '../debug-note.js';

/** What the addon exports (see native/walk.cc). */
export interface NativeAddon {
  /** Resolves to one packed listing (native-list.ts decodes it) or rejects with errno/syscall. */
  listDir(path: Buffer, dev: bigint, ino: bigint): Buffer;
  readonly layoutVersion: number;
  /**
   * The hashing workers' batch read (native/read.cc); absent from a binary built before it,
   * in which case the workers read with node:fs.
   */
  readonly readFiles?: (batch: NativeReadBatch) => NativeReadResult;
  /** 2: readFiles reads suffixes; absent (1) from a binary built before them. */
  readonly readFilesVersion?: number;
  /**
   * The executor's *at() calls (native/at.cc); absent from a binary built before them, in
   * which case the executor names files through /proc/self/fd (src/fs/at-ops.ts).
   */
  readonly at?: NativeAt;
  /**
   * Listings on threads of the addon's own, ahead of the walk (native/list-pool.cc); absent
   * from a binary built before it, in which case the walk lists on its own thread.
   */
  readonly ListPool?: new (threads: number, maxDoneBytes: number) => NativeListPool;
  /**
   * A scan's candidates read and hashed on threads of the addon's own (native/hash-pool.cc);
   * absent from a binary built before it, in which case Node worker threads hash them.
   */
  readonly HashPool?: new (
    opts: NativeHashPoolOptions,
    onBatch: (r: NativeHashBatch) => void,
  ) => NativeHashPool;
}

/** What native/hash-pool.cc is told at construction: src/scan/hash-job.ts's sizes, its threads. */
export interface NativeHashPoolOptions {
  readonly threads: number;
  /** Nice steps each thread runs below the walk (src/fs/process.ts hashNice). */
  readonly nice: number;
  readonly prefixBytes: number;
  readonly suffixBytes: number;
  readonly wholeReadMax: number;
}

/** native/hash-pool.cc: batches as src/scan/hash-job.ts encodes them, hashed on its threads. */
export interface NativeHashPool {
  /** The threads that started (fewer than asked where the system would start no more). */
  readonly threads: number;
  /** Queues a batch (its arrays are copied); onBatch gets its results, once. */
  add(
    batchId: number,
    full: boolean,
    paths: Uint8Array,
    pathEnds: Uint32Array,
    meta: BigInt64Array,
  ): void;
  /** Stops and joins the threads; batches not returned yet never are. */
  close(): void;
}

/** A finished batch of a NativeHashPool: a verdict and digests per job, or OpenSSL's failure. */
export type NativeHashBatch =
  | {
      readonly batchId: number;
      readonly error?: undefined;
      /** HashStatus per job. */
      readonly status: Uint8Array;
      /** For an error: 1 open, 2 fstat, 3 read. */
      readonly syscall: Uint8Array;
      /** For an error: the positive errno. */
      readonly errno: Int32Array;
      readonly bytesRead: Float64Array;
      readonly prefix: Uint8Array;
      readonly suffix: Uint8Array;
      readonly hasSuffix: Uint8Array;
      readonly sha256: Uint8Array;
      readonly hasSha256: Uint8Array;
    }
  | { readonly batchId: number; readonly error: string };

/** native/list-pool.cc: directories queued by token, listed as listDir lists them. */
export interface NativeListPool {
  /** The threads that started (fewer than asked where the system would start no more). */
  readonly threads: number;
  /** Queue a directory: a path below PATH_MAX, and the identity its parent's listing showed. */
  add(token: number, path: Buffer, dev: bigint, ino: bigint): void;
  /**
   * Every listing finished so far as [token, Buffer | Error, …] (an Error as listDir throws
   * it); with `wait`, waits for one when none is finished and some are queued.
   */
  take(wait: boolean): unknown[];
  /** Stops and joins the threads; what is queued is dropped. */
  close(): void;
}

/**
 * The executor's calls relative to directory fds (native/at.cc). Each returns >= 0 (an fd, or
 * 0) or -errno; a name is one path component (else -EINVAL); nothing follows a symlink.
 */
export interface NativeAt {
  readonly version: number;
  /** openat2(RESOLVE_NO_SYMLINKS) of an absolute directory path: -ENOSYS/-EPERM where absent. */
  openDirPath(abs: Buffer): number;
  openDirAt(dirFd: number, name: Buffer): number;
  /** O_NOFOLLOW | O_CLOEXEC are always added to `flags`. */
  openAt(dirFd: number, name: Buffer, flags: number, mode: number): number;
  /** Fills dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, a/m/c/birth time ns. */
  lstatAt(dirFd: number, name: Buffer, out: BigInt64Array): number;
  linkAt(fromDir: number, fromName: Buffer, toDir: number, toName: Buffer): number;
  renameAt(fromDir: number, fromName: Buffer, toDir: number, toName: Buffer): number;
  unlinkAt(dirFd: number, name: Buffer, removeDir: 0 | 1): number;
  mkdirAt(dirFd: number, name: Buffer, mode: number): number;
  /** lstatAt's fields for an open fd (absent from a binary built before it: node:fs). */
  readonly fstat?: (fd: number, out: BigInt64Array) => number;
  /**
   * 1 when the first `size` bytes of fds `a` and `b` are equal, 0 when they differ (or either
   * ends first), -errno; read in chunks of the buffers' length. Absent from older binaries.
   */
  readonly compare?: (a: number, b: number, size: number, bufA: Buffer, bufB: Buffer) => number;
}

/** A batch for readFiles: the jobs as hash-job.ts encodes them, what to read of each, where to put digests. */
export interface NativeReadBatch {
  readonly paths: Uint8Array;
  readonly pathEnds: Uint32Array;
  readonly meta: BigInt64Array;
  /** Read at most this many bytes of job i; 0: leave job i to the caller. */
  readonly limits: Uint32Array;
  /** The byte count job i must read (fewer or more: it changed). */
  readonly expected: Uint32Array;
  /** 1: digest all job i read into `sha256` too. */
  readonly whole: Uint8Array;
  /** The prefix digest covers this many leading bytes. */
  readonly prefixBytes: number;
  /** 32 bytes per job, written for the jobs read OK. */
  readonly prefix: Uint8Array;
  readonly sha256: Uint8Array;
  /** Read suffixBytes from this offset of job i too (all of them, or it changed); -1: none. */
  readonly suffixAt: Float64Array;
  readonly suffixBytes: number;
  /** 32 bytes per job: the digest of its suffix, where one was read. */
  readonly suffix: Uint8Array;
}

/** What readFiles returns: a verdict per job. */
export interface NativeReadResult {
  /** HashStatus per job, or 3: not read (limit 0), left to the caller. */
  readonly status: Uint8Array;
  /** For an error: 1 open, 2 fstat, 3 read. */
  readonly syscall: Uint8Array;
  /** For an error: the positive errno. */
  readonly errno: Int32Array;
  readonly bytesRead: Uint32Array;
}

export type NativeStatus =
  | { readonly kind: 'loaded'; readonly addon: NativeAddon }
  | { readonly kind: 'disabled' }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** The packed layout this side decodes. */
export const LAYOUT_VERSION = 3;

let status: NativeStatus | undefined;

function load(): NativeStatus {
  if (process.env.HASHALL_NATIVE === '0') return { kind: 'disabled' };
  if (process.platform !== 'linux') return { kind: 'unavailable', reason: 'not Linux' };
  // The packed buffer is written in the machine's byte order and read as little-endian.
  if (endianness() !== 'LE') return { kind: 'unavailable', reason: 'big-endian machine' };
  try {
    const require = createRequire(import.meta.url);
    const gypBuild = require('node-gyp-build') as (dir: string) => unknown;
    // The package root: dist/fs/native.js (and src/fs/native.ts under the tests) are two down.
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const addon = gypBuild(root) as NativeAddon;
    if (typeof addon.listDir !== 'function' || addon.layoutVersion !== LAYOUT_VERSION) {
      return { kind: 'unavailable', reason: 'the built addon is from another version of hashall' };
    }
    return { kind: 'loaded', addon };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { kind: 'unavailable', reason: msg ?? 'unknown' };
  }
}

/** The addon's load status (loaded once per process). */
export function nativeStatus(): NativeStatus {
  if (!status) {
    status = load();
    // Said once, by the main thread: the hashing workers load it too (src/scan/hash-worker.ts).
    if (status.kind === 'unavailable' && isMainThread) {
      debugNote(`native walk not loaded (${status.reason}); using the JS walk`);
    }
  }
  return status;
}
