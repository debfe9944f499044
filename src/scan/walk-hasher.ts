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
 * one shows up. `--hash all`: every new file. Left to the stages after the walk:
 * - inodes with several links (a job is per inode, and its other paths may come later);
 * - new rows whose inode the catalog already knows: possibly a move, which keeps its hashes;
 * - sizes shared only with rows of earlier scans, and new first-of-size rows of those sizes.
 */
import type { FileMeta, TreeStore } from '../catalog/tree.js';
import type { HashStage, HashWriter } from '../catalog/hashing.js';
import type { HashingOps } from '../catalog/scan-port.js';
import { joinPath } from '../paths.js';
import type { HashPool, LazyHashPool } from './hash-pool.js';
import {
  BATCH_BYTES,
  BATCH_FILES,
  digestsOf,
  HashStatus,
  PREFIX_BYTES,
  type HashJob,
  type HashResultMessage,
} from './hash-job.js';

/** What becomes of a result: a row to insert, or the row of a first-of-size file to update. */
type Pending =
  | {
      readonly kind: 'insert';
      readonly tree: TreeStore;
      readonly deviceId: number;
      readonly dirId: number;
      readonly name: Buffer;
      readonly meta: FileMeta;
    }
  | { readonly kind: 'update'; readonly deviceId: number; readonly fileId: number };

/** The first new inode of a size seen in this scan. */
interface FirstOfSize {
  readonly deviceId: number;
  readonly inode: bigint;
  /** Its job when it is ours to hash (one link, not possibly moved). */
  readonly job: HashJob | undefined;
  /** Its row, once inserted. */
  fileId: number;
}

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
  readonly tree: TreeStore;
  readonly deviceId: number;
  readonly dirId: number;
  /** The directory's absolute path, where the worker opens the file. */
  readonly dirAbs: Buffer;
  readonly name: Buffer;
  readonly meta: FileMeta;
}

export class WalkHasher {
  private readonly sizes = new Map<number, FirstOfSize | typeof SHARED>();
  /** Devices that had rows before this scan: their new files may be moves. */
  private readonly hadRows = new Map<number, boolean>();
  private readonly writer: HashWriter;
  private batch: HashJob[] = [];
  private pending: Pending[] = [];
  private batchBytes = 0;
  private readonly inflight = new Set<Promise<void>>();
  private done: { pending: Pending[]; jobs: HashJob[]; r: HashResultMessage }[] = [];
  private failure: unknown;
  private lastFirst: FirstOfSize | undefined;
  /** Inodes of the current listing's new files that already have a row: possibly moves. */
  private knownInodes: ReadonlySet<bigint> = new Set();

  constructor(
    private readonly hashing: HashingOps,
    /** 'all': whole files (`--hash all`); 'prefix': the prefix stage (and small files whole). */
    private readonly stage: WalkHashStage,
    /** Started when the first file is to be hashed, at a pause of the walk. */
    private readonly pools: LazyHashPool,
    private readonly report: WalkHashReport,
  ) {
    this.writer = hashing.writer();
  }

  /**
   * Before offering a listing's new files: which of them may be moves, asked of the catalog
   * once for the whole listing.
   */
  beginListing(deviceId: number, newFiles: readonly FileMeta[]): void {
    const inodes: bigint[] = [];
    for (const m of newFiles) if (m.nlink === 1) inodes.push(m.inode);
    if (inodes.length === 0 || !this.deviceHadRows(deviceId)) this.knownInodes = new Set();
    else this.knownInodes = this.hashing.knownInodes(deviceId, inodes);
  }

  /**
   * A listed file that has no row. Returns true when it was taken: its row will be written by
   * apply() once it is hashed. Otherwise the caller inserts the row and calls inserted().
   */
  offerNew(file: NewFile): boolean {
    const { tree, deviceId, dirId, dirAbs, name, meta } = file;
    this.lastFirst = undefined;
    const mine = meta.nlink === 1 && !this.knownInodes.has(meta.inode);
    if (this.stage === 'all') {
      if (!mine) return false;
      this.enqueue(
        { kind: 'insert', tree, deviceId, dirId, name, meta },
        jobFor(dirAbs, name, meta),
      );
      return true;
    }
    if (meta.size === 0n) return false;
    const size = Number(meta.size);
    const seen = this.sizes.get(size);
    if (seen === undefined) {
      const first: FirstOfSize = {
        deviceId,
        inode: meta.inode,
        job: mine ? jobFor(dirAbs, name, meta) : undefined,
        fileId: 0,
      };
      this.sizes.set(size, first);
      this.lastFirst = first;
      return false;
    }
    if (seen !== SHARED) {
      // Another name of the same inode is no duplicate.
      if (seen.deviceId === deviceId && seen.inode === meta.inode) return false;
      if (seen.job && seen.fileId > 0) {
        this.enqueue({ kind: 'update', deviceId: seen.deviceId, fileId: seen.fileId }, seen.job);
      }
      this.sizes.set(size, SHARED);
    }
    if (!mine) return false;
    this.enqueue({ kind: 'insert', tree, deviceId, dirId, name, meta }, jobFor(dirAbs, name, meta));
    return true;
  }

  /** The row id of the file last offered and not taken. */
  inserted(fileId: number): void {
    if (this.lastFirst) this.lastFirst.fileId = fileId;
    this.lastFirst = undefined;
  }

  /**
   * Backpressure for the walk: a promise while as many batches as the workers can queue are in
   * flight (the rows they carry wait in memory), otherwise undefined.
   */
  wait(): Promise<void> | undefined {
    const pool = this.pools.started;
    if (!pool) return this.batch.length > 0 ? this.start() : undefined;
    if (this.batch.length > 0 && this.inflight.size === 0) this.flush(pool); // keep workers busy
    if (this.inflight.size < this.limit(pool)) return undefined;
    return (async () => {
      while (this.inflight.size >= this.limit(pool)) await Promise.race(this.inflight);
    })();
  }

  private async start(): Promise<void> {
    this.flush(await this.pools.get());
  }

  /** Write the finished results (inside the caller's transaction); returns the rows written. */
  apply(): number {
    if (this.failure) throw this.failure;
    let written = 0;
    const done = this.done;
    this.done = [];
    for (const { pending, jobs, r } of done) {
      for (let i = 0; i < pending.length; i++) {
        const p = pending[i]!;
        const job = jobs[i]!;
        this.report.read(r.bytesRead[i]!);
        let prefix: Buffer | null = null;
        let sha256: Buffer | null = null;
        const status = r.status[i] as HashStatus;
        if (status === HashStatus.Ok) {
          const d = digestsOf(r, i);
          prefix = d.prefix;
          sha256 = d.sha256 ?? null;
          this.report.hashed();
        } else {
          this.writer.markFailed(p.deviceId, job.inode);
          if (status === HashStatus.Changed) this.report.changed();
          else this.report.error(job.path, r.errors[i] ?? 'error');
        }
        if (p.kind === 'insert') {
          p.tree.insertFile(p.deviceId, p.dirId, p.name, p.meta, prefix, sha256);
          if (prefix && !sha256) this.writer.markRead(p.deviceId, job.inode);
        } else if (prefix) {
          this.writer.storeOne(
            p.fileId,
            { deviceId: p.deviceId, ...job },
            prefix,
            sha256 ?? undefined,
          );
        }
        written++;
      }
    }
    return written;
  }

  /** Send what is batched and wait for every result (then apply() them). */
  async finish(): Promise<void> {
    if (this.batch.length > 0) this.flush(await this.pools.get());
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }

  private limit(pool: HashPool): number {
    return pool.size * 2;
  }

  private deviceHadRows(deviceId: number): boolean {
    let had = this.hadRows.get(deviceId);
    if (had === undefined) {
      // Asked before this scan inserts any file row of the device (beginListing() comes before
      // the listing's inserts): a device without rows has no moves to look for.
      had = this.hashing.deviceHasFiles(deviceId);
      this.hadRows.set(deviceId, had);
    }
    return had;
  }

  private enqueue(p: Pending, job: HashJob): void {
    this.pending.push(p);
    this.batch.push(job);
    this.batchBytes += this.stage === 'all' ? Number(job.size) : PREFIX_BYTES;
    // Without workers yet (none started before the walk needed one), the batch waits for
    // wait(), at the end of the directory.
    const pool = this.pools.started;
    if (pool && (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES))
      this.flush(pool);
  }

  private flush(pool: HashPool): void {
    if (this.batch.length === 0) return;
    const jobs = this.batch;
    const pending = this.pending;
    this.batch = [];
    this.pending = [];
    this.batchBytes = 0;
    const p: Promise<void> = pool.run(this.stage, jobs).then(
      (r) => {
        this.done.push({ pending, jobs, r });
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
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
