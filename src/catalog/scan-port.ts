/**
 * The catalog as the scan sees it: typed operations grouped by concern (scans, devices, the
 * tree merge, hashing), each returning a promise (port.ts says why). The scan holds no
 * database handle and writes no SQL; each operation takes a directory's listing, a page of
 * jobs or a page of results, never one round trip per file, so that another backend can
 * serve it. Transactions are the catalog's: the walk's batching writer (`scanWriter`) and the
 * port's `unitOfWork` (port.ts).
 */
import type { WalCheckpointer } from './checkpointer.js';
import type { DB } from './db.js';
import type { HostSighting } from './host-port.js';
import { lastScansPerRootAndHost } from './last-scans.js';
import {
  findDeviceByAlias,
  listDevices,
  registerDevice,
  renameDeviceAlias,
  type DeviceRow,
  type DeviceSighting,
  type DeviceUsage,
} from './devices.js';
import {
  finishScan,
  markScanInterrupted,
  runningScans,
  setScanRoot,
  startScan,
  type LastScan,
  type RunningScan,
  type ScanStatus,
} from './scans.js';
import { TreeStore, type FileMeta } from './tree.js';
import {
  HashWriter,
  jobPage,
  pendingCandidates,
  prepareJobs,
  preparedJobBytes,
  startHashSession,
  type HashResults,
  type HashStage,
  type JobRow,
  type ReadDigests,
} from './hashing.js';
import { deviceHasFiles } from './known-inodes.js';
import { ListingFingerprints } from './listing-fingerprint.js';
import { sqliteDirFingerprintOps, type DirFingerprintOps } from './dir-fingerprints.js';
import { foldStoredTotalsAfterScan } from './stored-totals.js';
import { storedDeviceUsage } from './usage-totals.js';
import { mergeListing, type ListingInput, type MergedListing } from './listing-merge.js';
import { sqliteScanWriter, type CommitPolicy, type ScanWriter } from './unit-of-work.js';
import { deferIndexesIfFew, restoreDeferredIndexes } from './deferred-indexes.js';

/** The process a scan belongs to, so that a later scan can tell when it is gone. */
export interface ScanOwner {
  readonly pid: number;
  readonly startTime: string;
  /** The host running it (registered with the scan): only it can tell the process is gone. */
  readonly host?: HostSighting;
}

export interface ScanRecords {
  /** Scans left 'running' (by this process, another, or one that is gone). */
  running(): Promise<readonly RunningScan[]>;
  markInterrupted(scanId: number): Promise<void>;
  /** Record a scan of a root as running; resolves to its id. */
  start(p: { readonly root: Buffer; readonly owner: ScanOwner }): Promise<number>;
  /** Where on which device the scan's root is. */
  setRoot(p: {
    readonly scanId: number;
    readonly deviceId: number;
    readonly fsPath: Buffer;
  }): Promise<void>;
  finish(p: {
    readonly scanId: number;
    readonly status: ScanStatus;
    readonly summary: unknown;
  }): Promise<void>;
  /** The most recent scan of every root. */
  lastPerRoot(): Promise<readonly LastScan[]>;
}

export interface DeviceRecords {
  /** Register a filesystem seen by a scan, or refresh a known one (atomic by itself). */
  register(s: DeviceSighting): Promise<DeviceRow>;
  list(): Promise<readonly DeviceRow[]>;
  findByAlias(alias: string): Promise<DeviceRow | undefined>;
  /** Rename an alias; rejects with a UserError when the old one is unknown or the new one taken. */
  rename(p: { readonly from: string; readonly to: string }): Promise<DeviceRow>;
  /** Paths, inodes and bytes per device id, and when each was last scanned. */
  usage(): Promise<ReadonlyMap<number, DeviceUsage>>;
}

/** How many jobs a stage selected and how many bytes they will read. */
export interface PreparedJobs {
  readonly jobs: number;
  readonly bytes: number;
}

export interface HashingOps {
  /** Forget the previous scan's read and failed inodes. */
  startSession(): Promise<void>;
  /** Select a stage's jobs (each inode once). */
  prepareJobs(stage: HashStage): Promise<PreparedJobs>;
  /** The next page of prepared jobs, in job order. */
  jobPage(p: { readonly afterJobId: number; readonly limit: number }): Promise<readonly JobRow[]>;
  /** Write a page of outcomes. Ask for a unit of work around it: one commit per page. */
  writeResults(r: HashResults): Promise<void>;
  /** Candidates still lacking their stage's hash. */
  pending(): Promise<number>;
  /** Whether the device has any file row (asked before a scan inserts its first one). */
  deviceHasFiles(deviceId: number): Promise<boolean>;
}

/** A file row to insert: hashes when the walk's hashing read it already. */
export interface NewFileRow {
  readonly deviceId: number;
  readonly dirId: number;
  readonly name: Buffer;
  readonly meta: FileMeta;
  readonly hashes: ReadDigests | undefined;
}

/**
 * The directory and file rows of one scan, merged a listing at a time; directories whose
 * listing matches their prefetched fingerprint are only marked listed (dir-fingerprints.ts).
 */
export interface ScanTree extends DirFingerprintOps {
  /** Merge a directory's listing (see listing-merge.ts); its new files are handed back. */
  mergeListing(l: ListingInput): Promise<MergedListing>;
  /** Insert new file rows in order; resolves to their row ids, in the same order. */
  insertFiles(rows: readonly NewFileRow[]): Promise<readonly number[]>;
  /**
   * The walk listed its last directory; the rows of its last hash results are still to come.
   * The catalog gets ready for what follows now, while the workers read those files (SQLite
   * builds the indexes a first scan deferred). Every row written after this is indexed as
   * usual.
   */
  walkDone(): Promise<void>;
  /**
   * A finished walk: mark the parked rows deleted, after letting new rows that are moves
   * take over their hashes. Resolves to how many were deleted and how many were moves.
   */
  applyDeletions(): Promise<{ readonly deleted: number; readonly moved: number }>;
  /** An interrupted or failed walk: forget the parked rows, marking nothing deleted. */
  discardParked(): Promise<void>;
}

export interface ScanCatalog {
  readonly scans: ScanRecords;
  readonly devices: DeviceRecords;
  readonly hashing: HashingOps;
  readonly tree: {
    /** The tree as scan `scanId` merges it (one scan at a time per connection). */
    open(scanId: number): Promise<ScanTree>;
  };
  /** A batching writer for the walk: one transaction over many listings, committed by policy. */
  scanWriter(policy: CommitPolicy): ScanWriter;
}

export type { CommitPolicy, ScanWriter } from './unit-of-work.js';
export type { ListingInput, ListedFile, MergedListing } from './listing-merge.js';
export type {
  HashResults,
  HashStage,
  HashTarget,
  InodeRef,
  JobRow,
  ReadDigests,
} from './hashing.js';
export type { FileMeta } from './tree.js';
export type { FingerprintScope, StoredFingerprint, UnchangedDir } from './dir-fingerprints.js';
export type { DeviceRow, DeviceSighting, DeviceUsage } from './devices.js';
export type { LastScan, RunningScan, ScanStatus } from './scans.js';

function scanTree(db: DB, scanId: number, checkpointer?: WalCheckpointer): ScanTree {
  const tree = new TreeStore(db, scanId);
  const fingerprints = new ListingFingerprints(db, scanId);
  const scan = db.prepare('SELECT device_id FROM scans WHERE id = ?').get(scanId) as
    { device_id: number | null } | undefined;
  if (scan?.device_id != null) {
    // A device's first scan writes a row for every file: the checkpointer from the start.
    // Started later, at the walk's first commit (as other scans start it), its boot met the
    // walk at its busiest and raised the reference tree's peak RSS by ~11 MB.
    if (checkpointer && !deviceHasFiles(db, scan.device_id)) checkpointer.start();
    // A device's first scan into a nearly empty catalog builds the size and hash indexes
    // after its walk (deferred-indexes.ts); every way out of the walk builds them again.
    deferIndexesIfFew(db, { deviceId: scan.device_id, scanId });
  }
  return {
    ...sqliteDirFingerprintOps(db, scanId),
    mergeListing: async (l) => mergeListing({ db, tree, fingerprints }, l),
    insertFiles: async (rows) =>
      rows.map((r) => tree.insertFile(r.deviceId, r.dirId, r.name, r.meta, r.hashes)),
    // The workers read the walk's last batches meanwhile: the build overlaps them.
    walkDone: async () => void restoreDeferredIndexes(db),
    applyDeletions: async () => {
      // Built already when the walk ended (walkDone); a stopped walk never gets here.
      // The fingerprints settle before the deletions (which the trigger sees) and are stored
      // after them: listing-fingerprint.ts.
      restoreDeferredIndexes(db);
      fingerprints.settle();
      const done = tree.applyDeletions();
      fingerprints.apply();
      return done;
    },
    discardParked: async () => {
      tree.discardParked();
      fingerprints.discard();
      try {
        restoreDeferredIndexes(db);
      } catch {
        // A walk that failed (a full disk) keeps its own error: the next open builds them.
      }
    },
  };
}

/**
 * The walk's writer, which starts the checkpointer (checkpointer.ts) after a commit once the
 * log has grown (an unchanged rescan never boots it; a device's first scan started it with its
 * tree); the catalog's close stops it. A scan's commits then leave the copy of the log back
 * into the catalog file to that thread.
 */
function checkpointingWriter(writer: ScanWriter, checkpointer: WalCheckpointer): ScanWriter {
  return {
    begin: () => writer.begin(),
    commitIfDue: async (files) => {
      const committed = await writer.commitIfDue(files);
      if (committed) checkpointer.startOnceLogGrows();
      return committed;
    },
    commit: () => writer.commit(),
    abort: () => writer.abort(),
  };
}

/** The port over one connection (and the checkpointer its scans start: see above). */
export function scanOps(db: DB, checkpointer?: WalCheckpointer): ScanCatalog {
  // Prepared once the session's temporary tables exist (startSession), then reused.
  let hashWriter: HashWriter | undefined;
  return {
    scans: {
      running: async () => runningScans(db),
      markInterrupted: async (id) => markScanInterrupted(db, id),
      start: async ({ root, owner }) => startScan(db, root, owner),
      setRoot: async ({ scanId, deviceId, fsPath }) => setScanRoot(db, scanId, deviceId, fsPath),
      finish: async ({ scanId, status, summary }) => {
        const finishedAt = Date.now();
        finishScan(db, scanId, status, summary, finishedAt);
        // A completed scan brings the stored totals up to date, so that analyze reads them
        // instead of regrouping what the scan changed (stored-totals.ts).
        if (status === 'completed') await foldStoredTotalsAfterScan(db, { scanId, finishedAt });
      },
      lastPerRoot: async () => lastScansPerRootAndHost(db),
    },
    devices: {
      register: async (s) => registerDevice(db, s),
      list: async () => listDevices(db),
      findByAlias: async (alias) => findDeviceByAlias(db, alias),
      rename: async ({ from, to }) => renameDeviceAlias(db, from, to),
      usage: async () => storedDeviceUsage(db),
    },
    hashing: {
      startSession: async () => startHashSession(db),
      prepareJobs: async (stage) => {
        // The stages' queries name these indexes; a walk that deferred them built them again.
        restoreDeferredIndexes(db);
        const jobs = prepareJobs(db, stage);
        return { jobs, bytes: jobs === 0 ? 0 : preparedJobBytes(db, stage) };
      },
      jobPage: async ({ afterJobId, limit }) => jobPage(db, afterJobId, limit),
      writeResults: async (r) => {
        hashWriter ??= new HashWriter(db);
        hashWriter.write(r);
      },
      pending: async () => pendingCandidates(db),
      deviceHasFiles: async (deviceId) => deviceHasFiles(db, deviceId),
    },
    tree: { open: async (scanId) => scanTree(db, scanId, checkpointer) },
    scanWriter: (policy) => {
      const writer = sqliteScanWriter(db, policy);
      return checkpointer ? checkpointingWriter(writer, checkpointer) : writer;
    },
  };
}
