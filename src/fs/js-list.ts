/**
 * The pure-JS directory listing (the fallback when the native addon cannot load, and what
 * HASHALL_NATIVE=0 forces): open the directory with O_NOFOLLOW, make it the working directory
 * through /proc/self/fd (which lands on the directory itself, as fchdir would), readdir it, and
 * lstat each entry by its bare name from there — one component resolved from the verified
 * directory, so nothing can be redirected, and cheaper than naming /proc/self/fd/N/NAME.
 */
import { createHash } from 'node:crypto';
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
  viewOfEntries,
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

type StatOutcome =
  | { readonly kind: 'ok'; readonly stat: EntryStat }
  | { readonly kind: 'error'; readonly error: unknown };

class JsEntry implements DirEntry {
  constructor(
    readonly name: Buffer,
    readonly kind: EntryKind,
    /** lstat()ed while listing (the working directory is the listed one only then). */
    private readonly outcome: StatOutcome | undefined,
  ) {}

  statOutcome(): StatOutcome | undefined {
    return this.outcome;
  }

  stat(): EntryStat {
    const o = this.outcome ?? statEntry(this.name);
    if (o.kind === 'error') throw o.error;
    return o.stat;
  }

  statKind(): EntryKind {
    return this.stat().kind;
  }
}

function statEntry(name: Buffer): StatOutcome {
  try {
    const st = lstatSync(name, { bigint: true });
    return {
      kind: 'ok',
      stat: {
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
      },
    };
  } catch (error) {
    return { kind: 'error', error };
  }
}

const KIND_CODE: Record<EntryKind, number> = {
  file: 1,
  dir: 2,
  symlink: 3,
  fifo: 4,
  socket: 5,
  block: 6,
  char: 7,
  other: 8,
};
const RECORD = 96;

/**
 * The listing's fingerprint as the JS walk makes it (not the native one's bytes: a catalog
 * walked both ways merely compares the rows once more): SHA-256 over the directory's identity,
 * then per entry its name, its kind, and its lstat or the error code that stopped it.
 */
function fingerprintOf(dir: DirIdentity, entries: readonly JsEntry[]): Buffer {
  const h = createHash('sha256');
  const rec = Buffer.alloc(RECORD);
  rec.write('hashall js listing', 0, 'latin1');
  rec.writeBigUInt64LE(BigInt.asUintN(64, dir.dev), 32);
  rec.writeBigUInt64LE(BigInt.asUintN(64, dir.ino), 40);
  h.update(rec);
  for (const e of entries) {
    rec.fill(0);
    rec.writeUInt32LE(e.name.length, 0);
    rec[4] = KIND_CODE[e.kind];
    let errorCode = '';
    const o = e.statOutcome();
    if (o?.kind === 'ok') {
      const st = o.stat;
      rec[5] = 1;
      rec[6] = KIND_CODE[st.kind];
      rec.writeUInt32LE(st.mode, 8);
      rec.writeUInt32LE(st.uid, 12);
      rec.writeUInt32LE(st.gid, 16);
      rec.writeDoubleLE(st.nlink, 24);
      rec.writeDoubleLE(st.blocks, 32);
      rec.writeBigUInt64LE(BigInt.asUintN(64, st.ino), 40);
      rec.writeBigUInt64LE(BigInt.asUintN(64, st.dev), 48);
      rec.writeBigInt64LE(st.size, 56);
      rec.writeBigInt64LE(BigInt.asIntN(64, st.mtimeNs), 64);
      rec.writeBigInt64LE(BigInt.asIntN(64, st.ctimeNs), 72);
      // Times beyond 64 bits of ns: their high part too.
      rec.writeBigInt64LE(BigInt.asIntN(64, (st.mtimeNs >> 64n) ^ (st.ctimeNs >> 64n)), 80);
    } else if (o?.kind === 'error') {
      rec[5] = 2;
      errorCode = String((o.error as { code?: unknown }).code ?? o.error);
    }
    h.update(rec);
    h.update(e.name);
    if (errorCode) h.update(errorCode);
  }
  return h.digest();
}

export class JsDirLister implements DirLister {
  readonly kind = 'js';
  private readonly startCwd: string;
  /**
   * The working directory the walk came from, held open: process.cwd() decodes its path as
   * UTF-8, so a directory named in other bytes could not be returned to by its path.
   */
  private startFd: number | undefined;

  constructor() {
    let cwd = '/';
    try {
      cwd = process.cwd();
    } catch {
      // the working directory was deleted: come back to '/'
    }
    this.startCwd = cwd;
    try {
      this.startFd = openSync('.', constants.O_RDONLY | constants.O_DIRECTORY);
    } catch {
      // deleted, or not readable (search permission only): its path will do
      this.startFd = undefined;
    }
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
      // What the walk stats (regular files and directories) is stat()ed now, from inside the
      // directory, and goes into the listing's fingerprint.
      const entries = dirents.map((d) => {
        const kind = direntKind(d);
        const wanted = kind === 'file' || kind === 'dir';
        return new JsEntry(d.name, kind, wanted ? statEntry(d.name) : undefined);
      });
      return {
        kind: 'listed',
        entries,
        view: viewOfEntries(entries),
        fingerprint: fingerprintOf(expect, entries),
      };
    } catch (error) {
      return { kind: 'failed', error };
    } finally {
      // The working directory holds the directory now; entries are lstat()ed from there.
      closeSync(fd);
    }
  }

  close(): void {
    try {
      process.chdir(this.startFd === undefined ? this.startCwd : `/proc/self/fd/${this.startFd}`);
    } catch {
      // Gone meanwhile: the walk used absolute paths only, and nothing after it needs the
      // directory it started in.
    } finally {
      if (this.startFd !== undefined) closeSync(this.startFd);
      this.startFd = undefined;
    }
  }
}
