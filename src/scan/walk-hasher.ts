/**
 * Hashing pipelined with the walk (DESIGN §6 T1, T3).
 *
 * The catalog-wide candidate selection after the walk (catalog/hashing.ts) stays the authority
 * on what gets hashed; this only starts early what it would pick anyway, so that reading files
 * overlaps the walk, and so that a new row is written once, with its hashes, instead of
 * inserted and then updated (the update in a separate pass cost ~2 s of catalog work on the
 * reference tree).
 *
 * `--hash candidates`: a new file is hashed as soon as another inode of its size has been seen
 * in this scan; the first inode of each size is hashed (and its row updated) when the second
 * one shows up. Two such inodes whose prefixes then agree are read whole at once, their rows
 * updated (prefix-pairs.ts). `--hash all`: every new file. A new inode with several links is
 * read through the first of its paths met, its hashes written on each of its paths' rows
 * (linked-inodes.ts). Left to the stages after the walk:
 * - new rows whose inode the catalog already knows: possibly a move, which keeps its hashes;
 * - sizes shared only with rows of earlier scans, and new first-of-size rows of those sizes;
 * - a linked inode whose read failed or found it changed, a path of one met with another
 *   identity, linked inodes past MAX_TRACKED, and the full reads of linked inodes.
 */
import type {
  FileMeta,
  HashingOps,
  HashResults,
  HashStage,
  InodeRef,
  NewFileRow,
  ReadDigests,
  ScanTree,
} from '../catalog/scan-port.js';
import { joinPath } from '../paths.js';
import type { LazyHashPool } from './hash-pool.js';
import { HashQueue } from './hash-queue.js';
import { PrefixPairs, type PrefixRead } from './prefix-pairs.js';
import { digestsOf, HashStatus, type HashJob } from './hash-job.js';
import { LinkedInodes, type Linked, type LinkedOffer } from './linked-inodes.js';

/**
 * What becomes of a result: a row to insert, the row of a first-of-size file to update, or the
 * row of a prefix pair's inode to update with its full hash.
 */
type Pending =
  | {
      readonly kind: 'insert';
      readonly tree: ScanTree;
      readonly deviceId: number;
      readonly dirId: number;
      readonly name: Buffer;
      readonly meta: FileMeta;
    }
  | { readonly kind: 'update'; readonly deviceId: number; readonly fileId: number }
  | { readonly kind: 'full'; readonly deviceId: number; readonly fileId: number }
  /** A new inode with several links: its result lands on the row of each of its paths. */
  | { readonly kind: 'links'; readonly deviceId: number; readonly linked: Linked };

/** The first new inode of a size seen in this scan. */
export interface FirstOfSize {
  readonly deviceId: number;
  readonly inode: bigint;
  /** Its job when it is ours to hash (one link, not possibly moved). */
  readonly job: HashJob | undefined;
  /** Or, a new inode with several links: read once another inode has its size. */
  readonly linked: Linked | undefined;
  /** Its row, once inserted. */
  fileId: number;
  /** A second inode of its size came before its row was inserted: hash it once it is. */
  wanted: boolean;
}

/**
 * What becomes of a file offered to the walk's hashing: taken (its row is written with its
 * hashes by apply()), or to be inserted by the caller now: plainly, with the hashes its inode
 * was read with through another path, or (a first of its size, a path of a linked inode)
 * reporting its row id through inserted().
 */
export type Offer =
  | { readonly kind: 'taken' }
  | { readonly kind: 'insert-first'; readonly first: FirstOfSize }
  | LinkedOffer;

/** An inserted row's inode, read for its prefix (and suffix) alone. */
interface PrefixOnly {
  readonly job: HashJob;
  readonly digests: ReadDigests;
}

const TAKEN: Offer = { kind: 'taken' };
const INSERT: Offer = { kind: 'insert' };

/** A size already held by two inodes: every further new file of it is a candidate. */
const SHARED = null;

export interface WalkHashReport {
  /** A file was read (hashed or not): the bytes read. */
  read(bytes: number): void;
  hashed(): void;
  changed(): void;
  error(path: Buffer, message: string): void;
}

/** The stages the walk's hashing can do ahead of the stages after the walk. */
export type WalkHashStage = Extract<HashStage, 'prefix' | 'all'>;

/** A listed file without a row, offered to the walk's hashing. */
export interface NewFile {
  readonly tree: ScanTree;
  readonly deviceId: number;
  readonly dirId: number;
  /** The directory's absolute path, where the worker opens the file. */
  readonly dirAbs: Buffer;
  readonly name: Buffer;
  readonly meta: FileMeta;
}

export interface WalkHasherParams {
  readonly hashing: HashingOps;
  /** 'all': whole files (`--hash all`); 'prefix': the prefix stage (and small files whole). */
  readonly stage: WalkHashStage;
  /** Started when the first file is to be hashed, at a pause of the walk. */
  readonly pools: LazyHashPool;
  readonly report: WalkHashReport;
  /** The user asked to stop: the full reads of pairs not yet sent are left to the next scan. */
  readonly shouldStop: () => boolean;
}

export class WalkHasher {
  private readonly sizes = new Map<number, FirstOfSize | typeof SHARED>();
  /** Devices that had rows before this scan: their new files may be moves. */
  private readonly hadRows = new Map<number, boolean>();
  /** The walk's own reads (prefix, or all), and the full reads of prefix pairs. */
  private readonly queue: HashQueue<Pending>;
  private readonly pairs = new PrefixPairs();
  /** Inodes of the current listing's new files that already have a row: possibly moves. */
  private knownInodes: ReadonlySet<bigint> = new Set();
  /** New inodes with several links, read through their first path met. */
  private readonly links = new LinkedInodes();

  private readonly hashing: HashingOps;
  private readonly stage: WalkHashStage;
  private readonly report: WalkHashReport;

  constructor(p: WalkHasherParams) {
    this.hashing = p.hashing;
    this.stage = p.stage;
    this.report = p.report;
    this.queue = new HashQueue(p.pools, p.stage, p.shouldStop);
  }

  /**
   * Whether a listing's new files on this device may be moves: only when the device had rows
   * before this scan. Asked of the catalog once per device, before this scan inserts any of
   * its file rows (a listing is merged after this is known).
   */
  async movesPossible(deviceId: number): Promise<'probe' | 'none'> {
    let had = this.hadRows.get(deviceId);
    if (had === undefined) {
      had = await this.hashing.deviceHasFiles(deviceId);
      this.hadRows.set(deviceId, had);
    }
    return had ? 'probe' : 'none';
  }

  /**
   * Before offering a listing's new files: the inodes among them that already have a row on
   * the device (possible moves), as the catalog's merge of the listing found them.
   */
  beginListing(knownInodes: ReadonlySet<bigint>): void {
    this.knownInodes = knownInodes;
  }

  /**
   * A listed file that has no row. Taken: its row will be written by apply() once it is
   * hashed. Otherwise the caller inserts the row (with the offer's hashes, if it has some), and
   * reports its row id through inserted().
   */
  offerNew(file: NewFile): Offer {
    const { tree, deviceId, dirId, dirAbs, name, meta } = file;
    if (meta.nlink > 1) {
      const met = this.links.find(deviceId, meta);
      if (met !== undefined) return this.links.later(met);
    }
    const known = this.knownInodes.has(meta.inode);
    const mine = meta.nlink === 1 && !known;
    if (this.stage === 'all') {
      const linked = this.track(file, known);
      if (linked) return this.queueLinked(linked);
      if (!mine) return INSERT;
      this.queue.add(
        'walk',
        { kind: 'insert', tree, deviceId, dirId, name, meta },
        jobFor(dirAbs, name, meta),
      );
      return TAKEN;
    }
    if (meta.size === 0n) return INSERT;
    const size = Number(meta.size);
    const seen = this.sizes.get(size);
    if (seen === undefined) {
      const linked = this.track(file, known);
      const first: FirstOfSize = {
        deviceId,
        inode: meta.inode,
        job: mine ? jobFor(dirAbs, name, meta) : undefined,
        linked,
        fileId: 0,
        wanted: false,
      };
      this.sizes.set(size, first);
      return linked ? { kind: 'insert-link', linked } : { kind: 'insert-first', first };
    }
    if (seen !== SHARED) {
      // Another name of the same inode is no duplicate (an inode not tracked: see track()).
      if (seen.deviceId === deviceId && seen.inode === meta.inode) return INSERT;
      if (seen.job) {
        // Its row may still be waiting to be inserted with the rest of its listing.
        if (seen.fileId > 0) this.enqueueFirst(seen);
        else seen.wanted = true;
      } else if (seen.linked) this.queueLinked(seen.linked);
      this.sizes.set(size, SHARED);
    }
    const linked = this.track(file, known);
    if (linked) return this.queueLinked(linked);
    if (!mine) return INSERT;
    const job = jobFor(dirAbs, name, meta);
    this.queue.add('walk', { kind: 'insert', tree, deviceId, dirId, name, meta }, job);
    return TAKEN;
  }

  /**
   * Track the first path met of a new inode with several links, in its device's first scan
   * only: elsewhere rows of earlier scans may hold its inode unhashed, which only the stages
   * after the walk update with the rest (by inode), reading it once.
   */
  private track(file: NewFile, known: boolean): Linked | undefined {
    const { deviceId, dirAbs, name, meta } = file;
    if (meta.nlink < 2 || known || meta.size === 0n || this.hadRows.get(deviceId) !== false)
      return undefined;
    return this.links.add(deviceId, jobFor(dirAbs, name, meta), meta.nlink);
  }

  /** Read a tracked inode (once); its paths' rows get its result. */
  private queueLinked(linked: Linked): Offer {
    if (linked.state.kind === 'waiting') {
      linked.state = { kind: 'queued' };
      this.queue.add('walk', { kind: 'links', deviceId: linked.deviceId, linked }, linked.job);
    }
    return { kind: 'insert-link', linked };
  }

  /** The row id of an offer the caller inserted (a first of its size, a linked inode's path). */
  inserted(offer: Offer, fileId: number): void {
    if (offer.kind === 'insert-first') {
      const first = offer.first;
      first.fileId = fileId;
      if (first.wanted) this.enqueueFirst(first);
    } else if (offer.kind === 'insert-link') this.links.inserted(offer.linked, fileId);
  }

  /** Hash a first of its size now that another inode has its size: its row is updated. */
  private enqueueFirst(first: FirstOfSize): void {
    first.wanted = false;
    if (first.job)
      this.queue.add(
        'walk',
        { kind: 'update', deviceId: first.deviceId, fileId: first.fileId },
        first.job,
      );
  }

  /**
   * Backpressure for the walk: a promise while as many batches as the workers can queue are in
   * flight (the rows they carry wait in memory), otherwise undefined.
   */
  wait(): Promise<void> | undefined {
    return this.queue.wait();
  }

  /** Whether apply() has anything to write (or a failure to throw). */
  hasResults(): boolean {
    return this.queue.hasResults();
  }

  /**
   * Whether reads are left to finish() and apply() after an apply(): the full reads of prefix
   * pairs its results found.
   */
  hasQueued(): boolean {
    return this.queue.hasQueued();
  }

  /**
   * Write the finished results (inside the caller's unit of work): the taken files' rows, in
   * the order they were taken, the first-of-size rows' hashes, and the hashes of linked inodes'
   * rows (linked-inodes.ts). Resolves to the rows written.
   */
  async apply(): Promise<number> {
    const done = this.queue.take();
    let written = 0;
    // Inserts go per scan tree (a hasher serves every root of a scan), in order.
    const inserts: { tree: ScanTree; rows: NewFileRow[]; reads: (PrefixOnly | undefined)[] }[] = [];
    /** Inodes read for their prefix alone, with their rows: a pair of them is read whole. */
    const prefixOnly: PrefixRead[] = [];
    const prefixes: ReadDigests[] = [];
    const stored: HashResults['stored'][number][] = [];
    const read: InodeRef[] = [];
    const failed: InodeRef[] = [];
    for (const { pending, jobs, r } of done) {
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i]!;
        const job = jobs[i]!;
        this.report.read(r.bytesRead[i]!);
        const status = r.status[i] as HashStatus;
        if (p.kind === 'links') {
          const digests = status === HashStatus.Ok ? digestsOf(r, i) : undefined;
          if (digests) this.report.hashed();
          written += this.links.result(p.linked, digests, stored, read);
          continue;
        }
        let digests: ReadDigests | undefined;
        if (status === HashStatus.Ok) {
          digests = digestsOf(r, i);
          // A full read counts its bytes; the file was counted when its prefix was read.
          if (p.kind !== 'full') this.report.hashed();
        } else {
          failed.push({ deviceId: p.deviceId, inode: job.inode });
          if (status === HashStatus.Changed) this.report.changed();
          else this.report.error(job.path, r.errors[i] ?? 'error');
        }
        if (p.kind === 'insert') {
          const row: NewFileRow = {
            deviceId: p.deviceId,
            dirId: p.dirId,
            name: p.name,
            meta: p.meta,
            hashes: digests,
          };
          const once = digests && !digests.sha256 ? { job, digests } : undefined;
          const last = inserts[inserts.length - 1];
          if (last?.tree === p.tree) {
            last.rows.push(row);
            last.reads.push(once);
          } else inserts.push({ tree: p.tree, rows: [row], reads: [once] });
          if (once) read.push({ deviceId: p.deviceId, inode: job.inode });
        } else if (digests) {
          stored.push({
            target: { fileId: p.fileId, paths: 1, deviceId: p.deviceId, ...job },
            ...digests,
          });
          if (p.kind === 'update' && !digests.sha256) {
            prefixOnly.push({ deviceId: p.deviceId, fileId: p.fileId, job });
            prefixes.push(digests);
          }
        }
        written++;
      }
    }
    for (const { tree, rows, reads } of inserts) {
      const ids = await tree.insertFiles(rows);
      reads.forEach((once, i) => {
        if (!once) return;
        prefixOnly.push({ deviceId: rows[i]!.deviceId, fileId: ids[i]!, job: once.job });
        prefixes.push(once.digests);
      });
    }
    if (stored.length > 0 || read.length > 0 || failed.length > 0)
      await this.hashing.writeResults({ stored, read, failed });
    // Rows are written (or queued) before their full hashes can be: pairs are read now.
    prefixOnly.forEach((r, i) => {
      for (const want of this.pairs.add(r, prefixes[i]!))
        this.queue.add(
          'full',
          { kind: 'full', deviceId: want.deviceId, fileId: want.fileId },
          want.job,
        );
    });
    return written;
  }

  /** The walk is over: send what is batched now, without waiting for the results. */
  async send(): Promise<void> {
    await this.queue.send();
  }

  /**
   * Send what is batched and wait for every result (then apply() them, which may queue the
   * full reads of pairs: until hasQueued() says none are left).
   */
  async finish(): Promise<void> {
    await this.queue.finish();
  }
}

function jobFor(dirAbs: Buffer, name: Buffer, meta: FileMeta): HashJob {
  return {
    path: joinPath(dirAbs, name),
    inode: meta.inode,
    size: meta.size,
    mtimeNs: meta.mtimeNs,
    ctimeNs: meta.ctimeNs,
  };
}
