/**
 * The hashing workers' native read (native/read.cc): the small files of a batch, and the
 * prefixes of the larger ones, are opened, identity-checked, read and closed in ONE call, which
 * saves the per-file cost of node:fs (a BigInt Stats object per fstat, a call into libuv per
 * syscall, two node:crypto Hash objects per file). The verdicts are hash-file.ts's, made in C by
 * the same rules; the digests come from the OpenSSL that Node links (the code behind
 * node:crypto), written straight into the batch's result arrays; a prefix read of a file past
 * WHOLE_READ_MAX reads its suffix too, as hash-file.ts does. Files to be read whole past
 * WHOLE_READ_MAX, and paths that need PathReach (longer than SHORT_PATH_LIMIT), are left to
 * hash-file.ts, which streams them.
 */
import { describeErrno } from '../errors.js';
import type { NativeAddon } from '../fs/native.js';
import { systemError } from '../fs/native-list.js';
import { SHORT_PATH_LIMIT } from '../fs/reach.js';
import {
  HashStatus,
  PREFIX_BYTES,
  SUFFIX_BYTES,
  hasSuffixDigest,
  type HashBatchMessage,
  type HashResultMessage,
} from './hash-job.js';

export type ReadFiles = NonNullable<NativeAddon['readFiles']>;

/** The native read as a worker uses it: whether it reads suffixes (a binary built before: no). */
export interface NativeRead {
  readonly readFiles: ReadFiles;
  readonly suffixes: boolean;
}

/** Not read natively (native/read.cc S_SKIPPED). */
const SKIPPED = 3;
const SYSCALLS = ['', 'open', 'fstat', 'read'] as const;

/**
 * Reads and hashes what it can of `batch` into `out`; returns, per job, whether it was done
 * (the others are for hash-file.ts).
 */
export function hashBatchNative(
  native: NativeRead,
  batch: HashBatchMessage,
  out: HashResultMessage,
): Uint8Array {
  const n = batch.count;
  const limits = new Uint32Array(n);
  const expected = new Uint32Array(n);
  const whole = new Uint8Array(n);
  const suffixAt = new Float64Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const pathLen = batch.pathEnds[i]! - (i === 0 ? 0 : batch.pathEnds[i - 1]!);
    const size = batch.meta[i * 4 + 1]!;
    if (pathLen >= SHORT_PATH_LIMIT || size < 0n) continue;
    // Read whole: as hash-file.ts decides; past WHOLE_READ_MAX such a file is streamed there.
    if (batch.full || !hasSuffixDigest(size)) {
      if (hasSuffixDigest(size)) continue;
      whole[i] = 1;
      // As hash-file.ts: one byte past the size, so that a file that grew reads as changed.
      limits[i] = Number(size) + 1;
      expected[i] = Number(size);
    } else {
      // A prefix read, of a file past WHOLE_READ_MAX: its suffix too, where this binary can.
      if (!native.suffixes) continue;
      limits[i] = PREFIX_BYTES;
      expected[i] = PREFIX_BYTES;
      suffixAt[i] = Number(size) - SUFFIX_BYTES;
    }
  }
  const r = native.readFiles({
    paths: batch.paths,
    pathEnds: batch.pathEnds,
    meta: batch.meta,
    limits,
    expected,
    whole,
    prefixBytes: PREFIX_BYTES,
    prefix: out.prefix,
    sha256: out.sha256,
    suffixAt,
    suffixBytes: SUFFIX_BYTES,
    suffix: out.suffix,
  });
  const done = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const status = r.status[i]!;
    if (status === SKIPPED) continue;
    done[i] = 1;
    out.status[i] = status;
    out.bytesRead[i] = r.bytesRead[i]!;
    if (status === HashStatus.Ok) {
      out.hasSha256[i] = whole[i]!;
      out.hasSuffix[i] = suffixAt[i]! >= 0 ? 1 : 0;
    } else if (status === HashStatus.Error) {
      out.errors[i] = nativeErrorText(batch, i, r.syscall[i]!, r.errno[i]!);
    }
  }
  return done;
}

/**
 * The error text of job `i`, which failed natively in `syscall` (1 open, 2 fstat, 3 read) with
 * `errno`: as node:fs words it, so that both reads say the same (only openSync's error carries
 * the path).
 */
export function nativeErrorText(
  batch: HashBatchMessage,
  i: number,
  syscall: number,
  errno: number,
): string {
  const from = i === 0 ? 0 : batch.pathEnds[i - 1]!;
  const path = Buffer.from(
    batch.paths.buffer,
    batch.paths.byteOffset + from,
    batch.pathEnds[i]! - from,
  );
  const sys = SYSCALLS[syscall] ?? 'read';
  return describeErrno(systemError(errno, sys, sys === 'open' ? path : undefined));
}
