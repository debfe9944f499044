/**
 * Hash one inode, proving it is the inode the catalog describes: opened without following
 * links and without blocking (a FIFO swapped in under the name cannot hang us), checked
 * against the expected identity before reading, and re-checked after. Any difference means
 * the file changed since it was listed: no hash is recorded for it.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { describeErrno } from '../errors.js';
import type { PathReach } from '../fs/reach.js';
import {
  HashStatus,
  PREFIX_BYTES,
  SUFFIX_BYTES,
  WHOLE_READ_MAX,
  hasSuffixDigest,
  type HashJob,
} from './hash-job.js';

const OPEN_FLAGS =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

export interface HashOutcome {
  status: HashStatus;
  prefix?: Buffer;
  /** For a file past WHOLE_READ_MAX: the digest of its last SUFFIX_BYTES (hash-job.ts). */
  suffix?: Buffer;
  sha256?: Buffer;
  bytesRead: number;
  error?: string;
}

function sameIdentity(st: BigIntStats, job: HashJob): boolean {
  return (
    st.isFile() &&
    BigInt.asIntN(64, st.ino) === job.inode &&
    st.size === job.size &&
    st.mtimeNs === job.mtimeNs &&
    st.ctimeNs === job.ctimeNs
  );
}

export function hashFile(job: HashJob, full: boolean, buf: Buffer, reach: PathReach): HashOutcome {
  let fd: number;
  try {
    fd = openSync(reach.reach(job.path), OPEN_FLAGS);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR')
      return { status: HashStatus.Changed, bytesRead: 0 };
    return { status: HashStatus.Error, error: describeErrno(err), bytesRead: 0 };
  }
  let bytesRead = 0;
  try {
    if (!sameIdentity(fstatSync(fd, { bigint: true }), job))
      return { status: HashStatus.Changed, bytesRead };
    const size = Number(job.size);
    const whole = full || size <= WHOLE_READ_MAX;
    // One running digest: the prefix's is a copy of it taken where the prefix ends (or, for a
    // file no longer than the prefix, the same digest), so no byte is hashed twice.
    const hash = createHash('sha256');
    let prefix: Buffer | undefined;
    const limit = whole ? size + 1 : PREFIX_BYTES; // +1: a file that grew shows up as extra bytes
    while (bytesRead < limit) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, limit - bytesRead), null);
      if (n === 0) break;
      const chunk = n === buf.length ? buf : buf.subarray(0, n);
      if (prefix === undefined && bytesRead + n >= PREFIX_BYTES) {
        const head = PREFIX_BYTES - bytesRead;
        hash.update(head === n ? chunk : chunk.subarray(0, head));
        if (!whole) {
          bytesRead += n;
          break;
        }
        prefix = hash.copy().digest();
        if (head < n) hash.update(chunk.subarray(head));
      } else {
        hash.update(chunk);
      }
      bytesRead += n;
    }
    const expected = whole ? size : Math.min(size, PREFIX_BYTES);
    if (bytesRead !== expected) return { status: HashStatus.Changed, bytesRead };
    // The end, read by position. A whole read has just read it (it is in the page cache) and
    // counted its bytes already.
    let suffix: Buffer | undefined;
    if (hasSuffixDigest(job.size)) {
      // A network filesystem may return fewer bytes than asked before the end: read on.
      let n = 0;
      while (n < SUFFIX_BYTES) {
        const k = readSync(fd, buf, n, SUFFIX_BYTES - n, size - SUFFIX_BYTES + n);
        if (k === 0) break;
        n += k;
      }
      if (!whole) bytesRead += n;
      if (n !== SUFFIX_BYTES) return { status: HashStatus.Changed, bytesRead };
      suffix = createHash('sha256').update(buf.subarray(0, n)).digest();
    }
    // Checked after every read: the digests describe the identity the catalog expects.
    if (!sameIdentity(fstatSync(fd, { bigint: true }), job))
      return { status: HashStatus.Changed, bytesRead };
    if (!whole) return { status: HashStatus.Ok, prefix: hash.digest(), suffix, bytesRead };
    const sha256 = hash.digest();
    return { status: HashStatus.Ok, prefix: prefix ?? sha256, suffix, sha256, bytesRead };
  } catch (err) {
    return { status: HashStatus.Error, error: describeErrno(err), bytesRead };
  } finally {
    closeSync(fd);
  }
}
