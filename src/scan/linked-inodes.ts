/**
 * New inodes with several links, hashed while the walk goes on (walk-hasher.ts).
 *
 * A job reads an inode, not a path, and its other paths may come later in the walk, or never
 * (links outside the scanned root). So such an inode used to be left whole to the stages after
 * the walk, which read it with the other CPU idle: on a tree of hardlinked snapshots, nearly
 * every file (see MAX_TRACKED for what this saves there). Here the first path met reads the
 * inode for all of them: its result lands on each path's row by row id, as a one-path inode's
 * does (no lookup by inode, whose index a first scan builds only after its walk:
 * deferred-indexes.ts); a path met after the result is inserted with it; a path met with
 * another identity (the file changed between two lstats) gets a plain row, which the stages
 * after the walk read.
 *
 * An inode is tracked only in its device's first scan (no row of an earlier scan can hold it),
 * from the first of its paths met; a later path is attached only with the identity hashed
 * (inode, size, mtime, ctime), and hashes land only on rows that still have it. A read that
 * fails or finds the file changed is left to the stages after the walk, which try every path
 * of the inode and report the outcome, as before.
 */
import type { FileMeta, HashResults, InodeRef, ReadDigests } from '../catalog/scan-port.js';
import type { HashJob } from './hash-job.js';

export type LinkedState =
  /** Not a candidate yet: no other inode of its size so far (the prefix stage). */
  | { readonly kind: 'waiting' }
  | { readonly kind: 'queued' }
  /**
   * Read: its prefix hash, then its suffix hash if it has one, then its SHA-256 if it was read
   * whole, packed (see hashesOf()).
   */
  | { readonly kind: 'hashed'; readonly digests: Buffer; readonly suffix: boolean }
  /** Its read failed or found it changed: the stages after the walk read it again. */
  | { readonly kind: 'left' };

const WAITING: LinkedState = { kind: 'waiting' };

/** What the caller does with a path's row (walk-hasher.ts Offer). */
export type LinkedOffer =
  /** Insert it plainly. */
  | { readonly kind: 'insert' }
  /** Insert it with the hashes its inode was read with through another path. */
  | { readonly kind: 'insert-hashed'; readonly hashes: ReadDigests }
  /** Insert it plainly and report its row id (inserted()): its inode's result is still to come. */
  | { readonly kind: 'insert-link'; readonly linked: Linked };

const INSERT: LinkedOffer = { kind: 'insert' };

type Stored = HashResults['stored'][number];

/** A tracked inode: its job (through the first path met), its rows, how many paths were met. */
export class Linked {
  state: LinkedState = WAITING;
  /** Row ids of its paths inserted before its result: the result is written on each. */
  readonly rows: number[] = [];
  /** Paths offered so far, the first included. */
  offered = 1;
  constructor(
    readonly deviceId: number,
    /** Its path is emptied once read: only the identity is needed after. */
    public job: HashJob,
    private readonly nlink: number,
  ) {}

  /** Every link was met: no later path will ask for it. */
  get allMet(): boolean {
    return this.offered >= this.nlink;
  }
}

/**
 * Tracked at once at most. Each costs ~460 bytes (the object, its job, its map entry, its path
 * and then its digests in an Arena): a first scan of two hardlinked copies of the reference tree
 * (200,000 paths, 97,000 inodes of two links each, 65,536 of them tracked at once) peaked at
 * 212 MB against 182 with none tracked, and took 4.35 s against 5.29 (medians of 3); the
 * reference tree's 2,848 such inodes, 2 MB and no time. At this bound, ~30 MB. An entry is
 * dropped once all its links were met; past the bound, the other linked inodes are left to the
 * stages after the walk, as before, and tracking stops for the rest of the scan, so that no
 * inode is tracked from its second path on (its first path's row would not get its hashes).
 */
export const MAX_TRACKED = 65_536;

/** The hashes a row is written with, from a tracked inode's packed digests. */
function hashesOf(d: Buffer, suffix: boolean): ReadDigests {
  const full = suffix ? 64 : 32;
  return {
    prefix: d.subarray(0, 32),
    suffix: suffix ? d.subarray(32, 64) : undefined,
    sha256: d.length > full ? d.subarray(full, full + 32) : undefined,
  };
}

const NO_PATH = Buffer.alloc(0);

/**
 * Copies of the small buffers an entry holds long (paths, digests), packed into chunks of their
 * own: ~100 bytes each where a buffer of its own costs ~250, and unlike slices of Node's pool
 * they keep alive only chunks of such copies (a digest sliced from the pool kept its 8 KiB).
 */
class Arena {
  private chunk = Buffer.allocUnsafeSlow(0);
  private at = 0;
  copy(src: Buffer): Buffer {
    if (src.length > ARENA_CHUNK / 8) {
      const own = Buffer.allocUnsafeSlow(src.length);
      src.copy(own);
      return own;
    }
    if (this.at + src.length > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(ARENA_CHUNK);
      this.at = 0;
    }
    const out = this.chunk.subarray(this.at, this.at + src.length);
    src.copy(out);
    this.at += src.length;
    return out;
  }
}

const ARENA_CHUNK = 64 * 1024;

export class LinkedInodes {
  private readonly byDevice = new Map<number, Map<bigint, Linked>>();
  private readonly arena = new Arena();
  private tracked = 0;
  private full = false;

  constructor(private readonly max = MAX_TRACKED) {}

  /**
   * The tracked inode a path belongs to; 'other identity' when its inode is tracked but the
   * path's stat differs from the one hashed; undefined when its inode is not tracked.
   */
  find(deviceId: number, meta: FileMeta): Linked | 'other identity' | undefined {
    const l = this.byDevice.get(deviceId)?.get(meta.inode);
    if (!l) return undefined;
    const j = l.job;
    return j.size === meta.size && j.mtimeNs === meta.mtimeNs && j.ctimeNs === meta.ctimeNs
      ? l
      : 'other identity';
  }

  /** Track a new inode from its first path; undefined once MAX_TRACKED were tracked at once. */
  add(deviceId: number, job: HashJob, nlink: number): Linked | undefined {
    if (this.full || this.tracked >= this.max) {
      this.full = true;
      return undefined;
    }
    let m = this.byDevice.get(deviceId);
    if (!m) this.byDevice.set(deviceId, (m = new Map()));
    // Held until it is read, maybe long (see Arena).
    const l = new Linked(deviceId, { ...job, path: this.arena.copy(job.path) }, nlink);
    m.set(job.inode, l);
    this.tracked++;
    return l;
  }

  /** A later path of a tracked inode (find()'s answer). */
  later(met: Linked | 'other identity'): LinkedOffer {
    // Changed between the two lstats: a plain row, which the stages after the walk read.
    if (met === 'other identity') return INSERT;
    met.offered++;
    const s = met.state;
    if (s.kind === 'hashed' || s.kind === 'left') this.settle(met);
    if (s.kind === 'hashed')
      return { kind: 'insert-hashed', hashes: hashesOf(s.digests, s.suffix) };
    if (s.kind === 'left') return INSERT;
    return { kind: 'insert-link', linked: met };
  }

  /**
   * The row id of a path inserted plainly ('insert-link'). Its inode's result cannot have been
   * written meanwhile: the walk writes results only between listings, and a listing's rows are
   * inserted before its merge returns. (Were it written, the row would stay plain, and the
   * stages after the walk would read the inode again: slower, never wrong.)
   */
  inserted(linked: Linked, fileId: number): void {
    if (linked.state.kind !== 'left') linked.rows.push(fileId);
  }

  /**
   * A tracked inode's read: its hashes (undefined: the read failed or found it changed) go on
   * the row of each of its paths inserted so far, and on those met later. A failed read is not
   * reported nor marked: the stages after the walk read the inode by any of its paths and
   * report what they find. Returns the rows written.
   */
  result(
    linked: Linked,
    digests: ReadDigests | undefined,
    stored: Stored[],
    read: InodeRef[],
  ): number {
    const rows = linked.rows.splice(0);
    if (!digests) {
      linked.state = { kind: 'left' };
      this.settle(linked);
      return 0;
    }
    // Held until the inode's links are met (see Arena).
    const { prefix, suffix, sha256 } = digests;
    const packed = Buffer.concat([
      prefix,
      ...(suffix ? [suffix] : []),
      ...(sha256 ? [sha256] : []),
    ]);
    linked.state = { kind: 'hashed', digests: this.arena.copy(packed), suffix: !!suffix };
    linked.job = { ...linked.job, path: NO_PATH };
    for (const fileId of rows) stored.push(storedOn(fileId, linked, digests));
    // Its full read, if its prefix pairs with another's, is the full stage's: counted once.
    if (!sha256) read.push({ deviceId: linked.deviceId, inode: linked.job.inode });
    this.settle(linked);
    return rows.length;
  }

  /**
   * Stop looking for more paths of `l` once every link was met (it stays alive where the walk
   * still holds it: its size's entry, its job in flight).
   */
  private settle(l: Linked): void {
    if (!l.allMet) return;
    const m = this.byDevice.get(l.deviceId);
    if (m?.get(l.job.inode) === l) {
      m.delete(l.job.inode);
      this.tracked--;
    }
  }
}

/** A tracked inode's hashes, to store on the row of one of its paths (if its identity holds). */
function storedOn(fileId: number, linked: Linked, h: ReadDigests): Stored {
  const { inode, size, mtimeNs, ctimeNs } = linked.job;
  return {
    target: { fileId, paths: 1, deviceId: linked.deviceId, inode, size, mtimeNs, ctimeNs },
    prefix: h.prefix,
    suffix: h.suffix,
    sha256: h.sha256,
  };
}
