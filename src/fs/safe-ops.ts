/**
 * File operations for the executor that cannot be redirected by a swapped directory.
 *
 * Node has no openat()/linkat()/renameat(). We open the parent directory one component at a
 * time, each with O_NOFOLLOW relative to the previous one, so no symlink anywhere on the path
 * is followed; then we name every file as /proc/self/fd/N/NAME, which the kernel resolves
 * relative to that open directory, exactly as the *at() calls would. A directory replaced by a
 * symlink after we opened it cannot move our link or rename elsewhere: the fd still refers to
 * the directory we walked. This also reaches paths longer than PATH_MAX.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { displayPath } from '../display-path.js';

const SLASH = Buffer.from('/');
const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function procChild(fd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), name]);
}

export class VerifiedDir {
  private constructor(
    readonly fd: number,
    readonly abs: Buffer,
  ) {}

  /** Open absolute directory `abs` without following any symlink on the way. */
  static open(abs: Buffer): VerifiedDir {
    let dir = new VerifiedDir(openSync('/', DIR_NOFOLLOW), Buffer.from('/'));
    try {
      let start = 1;
      while (start < abs.length) {
        let end = abs.indexOf(0x2f, start);
        if (end < 0) end = abs.length;
        const name = abs.subarray(start, end);
        start = end + 1;
        if (name.length === 0 || (name.length === 1 && name[0] === 0x2e)) continue;
        const next = dir.openChild(name);
        dir.close();
        dir = next;
      }
      return new VerifiedDir(dir.fd, abs);
    } catch (err) {
      dir.close();
      throw err;
    }
  }

  /** Open subdirectory `name` relative to this open directory, never following a symlink. */
  openChild(name: Buffer): VerifiedDir {
    const abs = Buffer.concat([
      this.abs.length === 1 ? this.abs : Buffer.concat([this.abs, SLASH]),
      name,
    ]);
    try {
      return new VerifiedDir(openSync(procChild(this.fd, name), DIR_NOFOLLOW), abs);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        throw Object.assign(
          new Error(
            `${displayPath(name)} on the path ${displayPath(abs)} is no longer a directory (a symlink or a file); nothing done there`,
          ),
          { code: 'EDIRCHANGED' },
        );
      }
      throw err;
    }
  }

  /** A path naming `name` inside this directory, resolved relative to the open fd. */
  child(name: Buffer): Buffer {
    return procChild(this.fd, name);
  }

  close(): void {
    closeSync(this.fd);
  }
}

const READ_FLAGS =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

export function openRegular(path: Buffer): { fd: number; st: BigIntStats } {
  const fd = openSync(path, READ_FLAGS);
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    return { fd, st };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Compare two open files byte for byte from the start. `equal` requires both to end together
 * at `size`.
 */
export function sameBytes(
  fdA: number,
  fdB: number,
  size: number,
  bufA: Buffer,
  bufB: Buffer,
): boolean {
  let pos = 0;
  while (true) {
    const n = readSync(fdA, bufA, 0, bufA.length, pos);
    let m = 0;
    while (m < n) {
      const k = readSync(fdB, bufB, m, n - m, pos + m);
      if (k === 0) break;
      m += k;
    }
    if (m !== n) return false;
    if (n === 0) return pos === size && readSync(fdB, bufB, 0, 1, pos) === 0;
    if (bufA.compare(bufB, 0, n, 0, n) !== 0) return false;
    pos += n;
  }
}
