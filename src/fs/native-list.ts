/**
 * The native directory listing: one addon call per directory (open O_NOFOLLOW, identity check,
 * getdents64, statx of each file and directory relative to the directory's fd) on the calling
 * thread, returning one packed buffer that is decoded here. Layout (little-endian), as
 * native/walk.cc writes it:
 *
 *   header (64 B): u32 layout, u32 count, u64 dir dev, u64 dir ino, u32 names offset, u32 flags,
 *     32 B fingerprint (SHA-256 of the whole buffer with these 32 bytes zeroed; all zero: none)
 *   record (104 B) × count: u32 name offset, u16 name length, u8 d_type, u8 flags, i32 errno,
 *     u32 mode, u64 ino, u64 dev, u64 nlink, u32 uid, u32 gid, i64 size, i64 blocks,
 *     i64 mtime ns, i64 ctime ns, i64 mtime s, u32 mtime ns part, u32 ctime ns part, i64 ctime s
 *   names: the raw bytes of every name
 */
import { getSystemErrorMap } from 'node:util';
import {
  type DirEntry,
  type DirIdentity,
  type DirLister,
  type DirRead,
  type EntryKind,
  type EntryStat,
  kindOfMode,
  type ListingView,
} from './dir-list.js';
import type { NativeAddon } from './native.js';

const HEADER = 64;
const FINGERPRINT_AT = 32;
const RECORD = 104;
const H_CHANGED = 1;
const F_STATTED = 1;
const F_STAT_ERROR = 2;
const F_MTIME_WIDE = 4;
const F_CTIME_WIDE = 8;
const TWO32 = 4294967296;

/** d_type values (dirent.h), by value. */
const DTYPE: readonly (EntryKind | undefined)[] = [
  undefined,
  'fifo',
  'char',
  undefined,
  'dir',
  undefined,
  'block',
  undefined,
  'file',
  undefined,
  'symlink',
  undefined,
  'socket',
];

/** A system error shaped as Node's own (code, errno, syscall, message). */
export function systemError(errno: number, syscall: string, path?: Buffer): Error {
  const [code, text] = getSystemErrorMap().get(-errno) ?? [`Unknown system error ${errno}`, ''];
  const where = path ? ` '${path.toString('utf8')}'` : '';
  return Object.assign(new Error(`${code}: ${text}, ${syscall}${where}`), {
    errno: -errno,
    code,
    syscall,
  });
}

/**
 * The records of one listing seen as 64- and 32-bit words: BigInt64Array reads a signed 64-bit
 * field as a BigInt natively, where Buffer#readBigInt64LE builds it with BigInt arithmetic (that
 * was three quarters of the decoding time). Every field is aligned to its size in the layout.
 */
interface Words {
  readonly buf: Buffer;
  readonly i64: BigInt64Array;
  readonly u32: Uint32Array;
}

function wordsOf(buf: Buffer): Words {
  // The addon's buffer is malloc()ed, hence 8-aligned; copy it once if it ever is not.
  const b = buf.byteOffset % 8 === 0 ? buf : Buffer.from(new Uint8Array(buf));
  return {
    buf: b,
    i64: new BigInt64Array(b.buffer, b.byteOffset, Math.floor(b.length / 8)),
    u32: new Uint32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4)),
  };
}

/**
 * One listing's records, read by index (ListingView). A rescan's skim reads a directory the
 * catalog already holds through this alone; the entries as objects are made only when the walk
 * asks for them (NativeListing.entries).
 */
class NativeView implements ListingView {
  readonly count: number;

  constructor(
    private readonly w: Words,
    /** The names region: the listing's own bytes, or a copy of them (NativeListing.entries). */
    private readonly names: Buffer,
  ) {
    this.count = w.buf.readUInt32LE(4);
  }

  kindAt(i: number): EntryKind {
    const buf = this.w.buf;
    const at = HEADER + i * RECORD;
    const dtype = buf[at + 6]!;
    // DT_UNKNOWN (a filesystem that does not fill d_type): the entry was stat()ed; use that.
    if (dtype === 0 && buf[at + 7]! & F_STATTED) return kindOfMode(buf.readUInt32LE(at + 12));
    return DTYPE[dtype] ?? 'other';
  }

  nameAt(i: number): Buffer {
    const { buf } = this.w;
    const at = HEADER + i * RECORD;
    const off = buf.readUInt32LE(at);
    return this.names.subarray(off, off + buf.readUInt16LE(at + 4));
  }

  statKindAt(i: number): EntryKind {
    const at = HEADER + i * RECORD;
    this.statted(i, at);
    return kindOfMode(this.w.u32[(at >> 2) + 3]!);
  }

  statAt(i: number): EntryStat {
    const { buf, i64, u32 } = this.w;
    const at = HEADER + i * RECORD;
    this.statted(i, at);
    const q = at >> 3; // in 64-bit words
    const d = at >> 2; // in 32-bit words
    const flags = buf[at + 7]!;
    const mode = u32[d + 3]!;
    return {
      kind: kindOfMode(mode),
      // Signed, as Node's BigInt stats are.
      ino: i64[q + 2]!,
      dev: i64[q + 3]!,
      nlink: u32[d + 8]! + u32[d + 9]! * TWO32,
      mode,
      uid: u32[d + 10]!,
      gid: u32[d + 11]!,
      size: i64[q + 6]!,
      blocks: u32[d + 14]! + u32[d + 15]! * TWO32,
      mtimeNs:
        flags & F_MTIME_WIDE ? i64[q + 10]! * 1_000_000_000n + BigInt(u32[d + 22]!) : i64[q + 8]!,
      ctimeNs:
        flags & F_CTIME_WIDE ? i64[q + 12]! * 1_000_000_000n + BigInt(u32[d + 23]!) : i64[q + 9]!,
    };
  }

  /** Throws the entry's stat error, or that it was not stat()ed (a symlink, a FIFO…). */
  private statted(i: number, at: number): void {
    const flags = this.w.buf[at + 7]!;
    if (flags & F_STAT_ERROR)
      throw systemError(this.w.buf.readInt32LE(at + 8), 'lstat', this.nameAt(i));
    if (!(flags & F_STATTED)) throw new Error('native listing: entry was not stat()ed');
  }
}

class NativeEntry implements DirEntry {
  private nameView: Buffer | undefined;

  constructor(
    private readonly view: NativeView,
    private readonly i: number,
    readonly kind: EntryKind,
  ) {}

  /**
   * Made on first use: a rescan of a directory the catalog already holds never looks at its
   * files' names (walker.ts), and a view per name was the largest part of decoding a listing.
   */
  get name(): Buffer {
    return (this.nameView ??= this.view.nameAt(this.i));
  }

  statKind(): EntryKind {
    return this.view.statKindAt(this.i);
  }

  stat(): EntryStat {
    return this.view.statAt(this.i);
  }
}

/** A listed directory: its records read in place, its entries as objects made on first use. */
class NativeListing {
  readonly kind = 'listed';
  readonly view: NativeView;
  private made: NativeEntry[] | undefined;

  constructor(
    private readonly w: Words,
    private readonly namesAt: number,
    readonly fingerprint: Buffer | undefined,
  ) {
    this.view = new NativeView(w, w.buf.subarray(namesAt));
  }

  get entries(): readonly DirEntry[] {
    if (this.made) return this.made;
    // One copy of all the names, each name a view of it: the walk keeps some names (catalog
    // rows, kept names) past this listing, and a copy per name was a third of the decoding
    // time. A name kept that way holds those bytes only, not the listing's records.
    const view = new NativeView(this.w, Buffer.from(this.w.buf.subarray(this.namesAt)));
    const made = new Array<NativeEntry>(view.count);
    for (let i = 0; i < made.length; i++) made[i] = new NativeEntry(view, i, view.kindAt(i));
    this.made = made;
    return made;
  }
}

/** Decode one packed listing: its header now, its entries when they are asked for. */
export function decodeListing(raw: Buffer): DirRead {
  if (raw.readUInt32LE(28) & H_CHANGED) return { kind: 'changed' };
  const w = wordsOf(raw);
  const fp = w.buf.subarray(FINGERPRINT_AT, FINGERPRINT_AT + 32);
  // A copy: the listing's buffer is not kept past the walk's use of its entries.
  const fingerprint = fp.some((b) => b !== 0) ? Buffer.from(fp) : undefined;
  return new NativeListing(w, w.buf.readUInt32LE(24), fingerprint);
}

/** A listing's failure, with the error shaped as Node's own when it is a system error. */
export function listingFailed(err: unknown, path: Buffer): DirRead {
  const e = err as { errno?: unknown; syscall?: unknown };
  if (typeof e.errno === 'number' && typeof e.syscall === 'string') {
    return { kind: 'failed', error: systemError(-e.errno, e.syscall, path) };
  }
  return { kind: 'failed', error: err };
}

/**
 * Lists on the calling thread: the walk's lister when it lists in turn (HASHALL_LIST_THREADS=0,
 * a test's scan-dir pause) and for paths reached through an open parent (reach.ts); otherwise
 * the addon's list pool lists the same way ahead of the walk (listing-queue.ts). One directory
 * at a time through libuv's thread pool was slower than this (bench/NOTES.md).
 */
export class NativeDirLister implements DirLister {
  readonly kind = 'native';
  constructor(private readonly addon: NativeAddon) {}

  list(path: Buffer, expect: DirIdentity): DirRead {
    try {
      return decodeListing(this.addon.listDir(path, expect.dev, expect.ino));
    } catch (err) {
      return listingFailed(err, path);
    }
  }

  close(): void {
    // nothing: the native lister changes nothing in the process
  }
}
