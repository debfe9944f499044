/**
 * Reaching paths longer than PATH_MAX (4096 bytes). Node has no openat(), but a directory
 * opened as an fd can be entered through /proc/self/fd/N/…, which resolves relative to that
 * directory exactly as openat(N, …) would. Long paths are reached in hops of < 3 KiB, and the
 * last directory reached is kept open, since callers visit the files of one directory together.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { ROOT_PATH, baseName, parentOf } from '../paths.js';

export const SHORT_PATH_LIMIT = 3072;

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

function procPath(fd: number, rest: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), rest]);
}

/** Open a directory of any length; the caller closes the fd. */
export function openDirDeep(abs: Buffer): number {
  if (abs.length < SHORT_PATH_LIMIT) return openSync(abs, DIR_FLAGS);
  let fd = -1;
  let start = 0;
  try {
    while (start < abs.length) {
      let end = Math.min(abs.length, start + SHORT_PATH_LIMIT);
      if (end < abs.length) {
        end = abs.lastIndexOf(0x2f, end);
        if (end <= start)
          throw Object.assign(new Error('path component too long'), { code: 'ENAMETOOLONG' });
      }
      let chunk = abs.subarray(start, end);
      if (fd >= 0 && chunk[0] === 0x2f) chunk = chunk.subarray(1);
      const next = fd < 0 ? openSync(chunk, DIR_FLAGS) : openSync(procPath(fd, chunk), DIR_FLAGS);
      if (fd >= 0) closeSync(fd);
      fd = next;
      start = end;
    }
    return fd;
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    throw err;
  }
}

export class PathReach {
  private dir: Buffer | undefined;
  private fd = -1;

  /** A path naming `abs` that fits in PATH_MAX; valid until the next call or close(). */
  reach(abs: Buffer): Buffer {
    if (abs.length < SHORT_PATH_LIMIT) return abs;
    const parent = parentOf(abs);
    if (!this.dir || !this.dir.equals(parent)) {
      this.close();
      this.fd = openDirDeep(parent);
      this.dir = Buffer.from(parent);
    }
    return procPath(this.fd, parent.equals(ROOT_PATH) ? abs.subarray(1) : baseName(abs));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.dir = undefined;
  }
}
