/**
 * The pure-JS directory listing (the fallback when the native addon cannot load, and what
 * HASHALL_NATIVE=0 forces): open the directory with O_NOFOLLOW, make it the working directory
 * through /proc/self/fd (which lands on the directory itself, as fchdir would), readdir it, and
 * lstat each entry by its bare name from there — one component resolved from the verified
 * directory, so nothing can be redirected, and cheaper than naming /proc/self/fd/N/NAME.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  type BigIntStats,
  type Dirent,
} from 'node:fs';
import {
  type DirEntry,
  type DirIdentity,
  type DirLister,
  type DirRead,
  type EntryKind,
  type EntryStat,
} from './dir-list.js';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function direntKind(d: Dirent<Buffer>): EntryKind {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isBlockDevice()) return 'block';
  if (d.isCharacterDevice()) return 'char';
  return 'other';
}

function statKind(st: BigIntStats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block';
  if (st.isCharacterDevice()) return 'char';
  return 'other';
}

class JsEntry implements DirEntry {
  constructor(
    readonly name: Buffer,
    readonly kind: EntryKind,
  ) {}

  stat(): EntryStat {
    const st = lstatSync(this.name, { bigint: true });
    return {
      kind: statKind(st),
      dev: st.dev,
      ino: st.ino,
      nlink: Number(st.nlink),
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      blocks: Number(st.blocks),
    };
  }
}

export class JsDirLister implements DirLister {
  readonly kind = 'js';
  private readonly startCwd: string;

  constructor() {
    let cwd = '/';
    try {
      cwd = process.cwd();
    } catch {
      // the working directory was deleted: come back to '/'
    }
    this.startCwd = cwd;
  }

  list(path: Buffer, expect: DirIdentity): DirRead {
    let fd: number;
    try {
      fd = openSync(path, DIR_FLAGS);
    } catch (error) {
      return { kind: 'failed', error };
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      if (st.ino !== expect.ino || st.dev !== expect.dev) return { kind: 'changed' };
      process.chdir(`/proc/self/fd/${fd}`);
      const dirents = readdirSync('.', { withFileTypes: true, encoding: 'buffer' });
      const entries = dirents.map((d) => new JsEntry(d.name, direntKind(d)));
      return { kind: 'listed', entries };
    } catch (error) {
      return { kind: 'failed', error };
    } finally {
      // The working directory holds the directory now; entries are lstat()ed from there.
      closeSync(fd);
    }
  }

  close(): void {
    process.chdir(this.startCwd);
  }
}
