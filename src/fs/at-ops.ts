/**
 * The executor's file operations relative to an open directory fd, two ways:
 *
 * - 'native': the real *at() calls (native/at.cc): openat(O_NOFOLLOW), fstatat
 *   (AT_SYMLINK_NOFOLLOW), linkat, renameat, unlinkat, mkdirat; a whole path is opened with
 *   openat2(RESOLVE_NO_SYMLINKS) where the kernel has it. Needs nothing mounted.
 * - 'proc': Node has no *at() calls, so a file in an open directory is named
 *   /proc/self/fd/N/NAME, which the kernel resolves through the open fd N exactly as the *at()
 *   call would (the fd's directory, wherever it is now; NAME itself never followed by lstat,
 *   link, rename or unlink). Needs /proc mounted: without it every operation fails with ENOENT
 *   and nothing is touched.
 *
 * The native way is used when the addon loaded and has the calls (HASHALL_NATIVE=0 forces
 * 'proc'). A name is always one path component (baseName of a path, or a name we made).
 */
import {
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  type BigIntStats,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { failpointFlag } from '../failpoint.js';
import { AT_STAT_FIELDS, AtStats } from './at-stats.js';
import { nativeStatus, type NativeAt } from './native.js';
import { jsSameBytes } from './same-bytes.js';
import { systemError } from './native-list.js';

export const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export interface AtOps {
  readonly kind: 'native' | 'proc';
  /**
   * The directory `abs` names, opened in one call without following any symlink; undefined
   * when this cannot be done in one call (no openat2, or it failed: the caller walks component
   * by component, which also names the component at fault).
   */
  openDirPath(abs: Buffer): number | undefined;
  openDirAt(dirFd: number, name: Buffer): number;
  lstatAt(dirFd: number, name: Buffer): BigIntStats;
  /** fstat of an open fd (native: no Date objects, which node:fs builds for every call). */
  fstat(fd: number): BigIntStats;
  /**
   * Are the first `size` bytes of two open files equal? Native: exactly `size` bytes are read
   * (a file ending early differs), so the caller must prove afterwards (fstat) that both still
   * have `size` bytes and their mtimes; node:fs also requires both to end at `size`.
   */
  sameBytes(a: number, b: number, size: number, bufs: { a: Buffer; b: Buffer }): boolean;
  /** O_NOFOLLOW is always added. */
  openAt(dirFd: number, name: Buffer, flags: number, mode?: number): number;
  linkAt(from: { dirFd: number; name: Buffer }, to: { dirFd: number; name: Buffer }): void;
  renameAt(from: { dirFd: number; name: Buffer }, to: { dirFd: number; name: Buffer }): void;
  unlinkAt(dirFd: number, name: Buffer): void;
  rmdirAt(dirFd: number, name: Buffer): void;
  mkdirAt(dirFd: number, name: Buffer, mode: number): void;
}

/** /proc/self/fd/N/NAME: NAME resolved relative to open directory fd N. */
export function procChild(dirFd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), name]);
}

const procOps: AtOps = {
  kind: 'proc',
  openDirPath: () => undefined,
  openDirAt: (fd, name) => openSync(procChild(fd, name), DIR_NOFOLLOW),
  lstatAt: (fd, name) => lstatSync(procChild(fd, name), { bigint: true }),
  fstat: (fd) => fstatSync(fd, { bigint: true }),
  sameBytes: (a, b, size, bufs) => jsSameBytes(a, b, size, bufs.a, bufs.b),
  openAt: (fd, name, flags, mode) =>
    openSync(procChild(fd, name), flags | constants.O_NOFOLLOW, mode),
  linkAt: (from, to) => linkSync(procChild(from.dirFd, from.name), procChild(to.dirFd, to.name)),
  renameAt: (from, to) =>
    renameSync(procChild(from.dirFd, from.name), procChild(to.dirFd, to.name)),
  unlinkAt: (fd, name) => unlinkSync(procChild(fd, name)),
  rmdirAt: (fd, name) => rmdirSync(procChild(fd, name)),
  mkdirAt: (fd, name, mode) => mkdirSync(procChild(fd, name), mode),
};

/** -errno from native/at.cc as Node's own error; a result >= 0 passes through. */
function check(r: number, syscall: string, name: Buffer): number {
  if (r < 0) throw systemError(-r, syscall, name);
  return r;
}

function nativeOps(at: NativeAt): AtOps {
  const fields = new BigInt64Array(AT_STAT_FIELDS);
  // Test-only: the component-by-component walk a kernel without openat2 gets.
  let openat2 = !failpointFlag('no-openat2');
  return {
    kind: 'native',
    openDirPath(abs) {
      if (!openat2) return undefined;
      const r = at.openDirPath(abs);
      if (r >= 0) return r;
      // Missing (ENOSYS) or filtered (EPERM, by a seccomp policy): never ask again.
      if (r === -errno.ENOSYS || r === -errno.EPERM) openat2 = false;
      return undefined;
    },
    openDirAt: (fd, name) => check(at.openDirAt(fd, name), 'openat', name),
    lstatAt(fd, name) {
      check(at.lstatAt(fd, name, fields), 'fstatat', name);
      return new AtStats(fields);
    },
    fstat(fd) {
      if (!at.fstat) return fstatSync(fd, { bigint: true });
      const r = at.fstat(fd, fields);
      if (r < 0) throw systemError(-r, 'fstat');
      return new AtStats(fields);
    },
    sameBytes(a, b, size, bufs) {
      if (!at.compare) return jsSameBytes(a, b, size, bufs.a, bufs.b);
      const r = at.compare(a, b, size, bufs.a, bufs.b);
      if (r < 0) throw systemError(-r, 'read');
      return r === 1;
    },
    openAt: (fd, name, flags, mode = 0o666) =>
      check(at.openAt(fd, name, flags, mode), 'openat', name),
    linkAt: (from, to) => {
      check(at.linkAt(from.dirFd, from.name, to.dirFd, to.name), 'linkat', to.name);
    },
    renameAt: (from, to) => {
      check(at.renameAt(from.dirFd, from.name, to.dirFd, to.name), 'renameat', to.name);
    },
    unlinkAt: (fd, name) => {
      check(at.unlinkAt(fd, name, 0), 'unlinkat', name);
    },
    rmdirAt: (fd, name) => {
      check(at.unlinkAt(fd, name, 1), 'unlinkat', name);
    },
    mkdirAt: (fd, name, mode) => {
      check(at.mkdirAt(fd, name, mode), 'mkdirat', name);
    },
  };
}

const { errno } = osConstants;

let chosen: AtOps | undefined;

/** One way by name, for the tests that compare them (undefined: the addon has no *at() calls). */
export function atOpsOf(kind: AtOps['kind']): AtOps | undefined {
  if (kind === 'proc') return procOps;
  const s = nativeStatus();
  return s.kind === 'loaded' && s.addon.at?.version === 1 ? nativeOps(s.addon.at) : undefined;
}

/** The way this process acts in directories (chosen once). */
export function atOps(): AtOps {
  if (!chosen) {
    chosen = atOpsOf('native') ?? procOps;
  }
  return chosen;
}
