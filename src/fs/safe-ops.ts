/**
 * File operations for the executor that cannot be redirected by a swapped directory.
 *
 * We open the parent directory without following a symlink anywhere on the path (one
 * openat2(RESOLVE_NO_SYMLINKS) call with the native addon, else one component at a time, each
 * with O_NOFOLLOW relative to the previous one), then act on its files only relative to that
 * open fd (at-ops.ts: the real *at() calls, or /proc/self/fd/N/NAME without the addon). A
 * directory replaced by a symlink after we opened it cannot move our link or rename elsewhere:
 * the fd still refers to the directory we walked. `stillAt` tells whether its path still leads
 * to it, for the check just before an act. This also reaches paths longer than PATH_MAX.
 */
import { closeSync, constants, lstatSync, openSync, type BigIntStats } from 'node:fs';
import { displayPath } from '../display-path.js';
import { baseName, parentOf } from '../paths.js';
import { DIR_NOFOLLOW, atOps, procChild } from './at-ops.js';

const SLASH = Buffer.from('/');

/** A name in a directory, for the operations that take two (link, rename). */
export interface At {
  readonly dir: VerifiedDir;
  readonly name: Buffer;
}

export class VerifiedDir {
  /** The directory's dev/ino, read once (an fd keeps its inode). */
  private id: { dev: bigint; ino: bigint } | undefined;

  private constructor(
    readonly fd: number,
    readonly abs: Buffer,
  ) {}

  /** Open absolute directory `abs` without following any symlink on the way. */
  static open(abs: Buffer): VerifiedDir {
    const fd = atOps().openDirPath(abs);
    if (fd !== undefined) return new VerifiedDir(fd, abs);
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
      return new VerifiedDir(atOps().openDirAt(this.fd, name), abs);
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

  /**
   * Does this directory's path, resolved now, still lead to the directory we hold open? With
   * the addon the path is resolved with no symlink followed anywhere (openat2); without it (or
   * without openat2) by lstat, which may pass through a symlinked ancestor but must still end
   * at this very directory (dev/ino): either way a directory moved away, or replaced (by a
   * symlink or another directory), answers false.
   */
  stillAt(): boolean {
    this.id ??= (() => {
      const st = atOps().fstat(this.fd);
      return { dev: st.dev, ino: st.ino };
    })();
    try {
      const fd = atOps().openDirPath(this.abs);
      let now: BigIntStats;
      if (fd === undefined) now = this.statPathNow();
      else {
        try {
          now = atOps().fstat(fd);
        } finally {
          closeSync(fd);
        }
      }
      return now.isDirectory() && now.ino === this.id.ino && now.dev === this.id.dev;
    } catch {
      return false;
    }
  }

  /**
   * This directory's path resolved now, by lstat; a path beyond PATH_MAX (which neither lstat
   * nor openat2 takes) one component at a time from `/`, never following a symlink.
   */
  private statPathNow(): BigIntStats {
    try {
      return lstatSync(this.abs, { bigint: true });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENAMETOOLONG') throw err;
      const again = VerifiedDir.open(this.abs);
      try {
        return atOps().fstat(again.fd);
      } finally {
        again.close();
      }
    }
  }

  /**
   * A path naming `name` inside this directory, resolved relative to the open fd through
   * /proc (for what has no *at() call here: copy_file_range/FICLONE by path).
   */
  child(name: Buffer): Buffer {
    return procChild(this.fd, name);
  }

  lstat(name: Buffer): BigIntStats {
    return atOps().lstatAt(this.fd, name);
  }

  /** Open `name` (O_NOFOLLOW always added). */
  open(name: Buffer, flags: number, mode?: number): number {
    return atOps().openAt(this.fd, name, flags, mode);
  }

  /** link(from, this/name), never following a symlink. */
  linkFrom(from: At, name: Buffer): void {
    atOps().linkAt({ dirFd: from.dir.fd, name: from.name }, { dirFd: this.fd, name });
  }

  /** rename(this/from, to). */
  renameTo(from: Buffer, to: At): void {
    atOps().renameAt({ dirFd: this.fd, name: from }, { dirFd: to.dir.fd, name: to.name });
  }

  unlink(name: Buffer): void {
    atOps().unlinkAt(this.fd, name);
  }

  rmdir(name: Buffer): void {
    atOps().rmdirAt(this.fd, name);
  }

  mkdir(name: Buffer, mode: number): void {
    atOps().mkdirAt(this.fd, name, mode);
  }

  close(): void {
    closeSync(this.fd);
  }
}

const READ_FLAGS =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Open regular file `name` in `dir` for reading (no symlink, no FIFO: it would block). */
export function openRegularAt(dir: VerifiedDir, name: Buffer): { fd: number; st: BigIntStats } {
  return fstatRegular(dir.open(name, READ_FLAGS));
}

export function openRegular(path: Buffer): { fd: number; st: BigIntStats } {
  return fstatRegular(openSync(path, READ_FLAGS));
}

function fstatRegular(fd: number): { fd: number; st: BigIntStats } {
  try {
    const st = atOps().fstat(fd);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    return { fd, st };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Are the first `size` bytes of two open files equal (at-ops.ts: natively in one call, else
 * through node:fs)? The caller proves by fstat afterwards that neither changed meanwhile.
 */
export function sameBytes(
  fdA: number,
  fdB: number,
  size: number,
  bufs: { readonly a: Buffer; readonly b: Buffer },
): boolean {
  return atOps().sameBytes(fdA, fdB, size, bufs);
}

/**
 * Run `fn` in the directory `abs` names, opened without following a symlink anywhere on the
 * way (VerifiedDir.open), and close it. For recovery, which acts on journaled paths: a
 * directory on the way swapped for a symlink since is refused (EDIRCHANGED), never followed.
 */
export function inDir<T>(abs: Buffer, fn: (dir: VerifiedDir) => T): T {
  const dir = VerifiedDir.open(abs);
  try {
    return fn(dir);
  } finally {
    dir.close();
  }
}

/** lstat of absolute path `abs`, following no symlink anywhere on it. */
export function lstatNoFollow(abs: Buffer): BigIntStats {
  return inDir(parentOf(abs), (d) => d.lstat(baseName(abs)));
}
