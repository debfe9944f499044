/**
 * The catalog as the scan sees it: typed operations grouped by concern (scans, devices, the
 * tree merge, hashing), with transactions as units of work the catalog runs. The scan holds
 * no database handle and writes no SQL; each operation takes a directory's listing or a page
 * of jobs or results, never one round trip per file, so that another backend can serve it.
 */
import type { DB } from './open.js';
import { listDevices, registerDevice, type DeviceRow, type DeviceSighting } from './devices.js';
import {
  finishScan,
  markScanInterrupted,
  runningScans,
  setScanRoot,
  startScan,
  type RunningScan,
  type ScanStatus,
} from './scans.js';
import { TreeStore } from './tree.js';
import {
  HashWriter,
  jobPage,
  pendingCandidates,
  prepareJobs,
  preparedJobBytes,
  startHashSession,
  type HashStage,
  type JobRow,
} from './hashing.js';
import { deviceHasFiles, knownInodes } from './known-inodes.js';
import { ScanWriter, withUnitOfWork, type CommitPolicy } from './unit-of-work.js';

export interface ScanRecords {
  /** Scans left 'running' (by this process, another, or one that is gone). */
  running(): RunningScan[];
  markInterrupted(scanId: number): void;
  start(root: Buffer, owner: { pid: number; startTime: string }): number;
  setRoot(scanId: number, deviceId: number, fsPath: Buffer): void;
  finish(scanId: number, status: ScanStatus, summary: unknown): void;
}

export interface DeviceRecords {
  register(s: DeviceSighting): DeviceRow;
  list(): DeviceRow[];
}

export interface HashingOps {
  /** Forget the previous scan's read and failed inodes. */
  startSession(): void;
  /** Select a stage's jobs; returns how many. */
  prepareJobs(stage: HashStage): number;
  preparedJobBytes(stage: HashStage): number;
  /** The next page of prepared jobs after a job id. */
  jobPage(afterJobId: number, limit: number): JobRow[];
  /** Writes results; call inside a unit of work. */
  writer(): HashWriter;
  /** Candidates still lacking their stage's hash. */
  pending(): number;
  deviceHasFiles(deviceId: number): boolean;
  /** The inodes among a listing's new files that already have a row on the device. */
  knownInodes(deviceId: number, inodes: readonly bigint[]): Set<bigint>;
}

export interface ScanCatalog {
  readonly scans: ScanRecords;
  readonly devices: DeviceRecords;
  readonly hashing: HashingOps;
  /** The directory and file rows, merged one listing at a time for a scan. */
  tree(scanId: number): TreeStore;
  /** A batching writer for the walk: one transaction over many listings. */
  scanWriter(policy: CommitPolicy): ScanWriter;
  /** fn in one write transaction. */
  withUnitOfWork<T>(fn: () => T): T;
}

/** The scan's operations over an SQLite connection (sqlite.ts composes the whole port). */
export function scanCatalog(catalog: { readonly db: DB }): ScanCatalog {
  return scanOps(catalog.db);
}

export function scanOps(db: DB): ScanCatalog {
  return {
    scans: {
      running: () => runningScans(db),
      markInterrupted: (id) => markScanInterrupted(db, id),
      start: (root, owner) => startScan(db, root, owner),
      setRoot: (scanId, deviceId, fsPath) => setScanRoot(db, scanId, deviceId, fsPath),
      finish: (scanId, status, summary) => finishScan(db, scanId, status, summary),
    },
    devices: {
      register: (s) => registerDevice(db, s),
      list: () => listDevices(db),
    },
    hashing: {
      startSession: () => startHashSession(db),
      prepareJobs: (stage) => prepareJobs(db, stage),
      preparedJobBytes: (stage) => preparedJobBytes(db, stage),
      jobPage: (after, limit) => jobPage(db, after, limit),
      writer: () => new HashWriter(db),
      pending: () => pendingCandidates(db),
      deviceHasFiles: (deviceId) => deviceHasFiles(db, deviceId),
      knownInodes: (deviceId, inodes) => knownInodes(db, deviceId, inodes),
    },
    tree: (scanId) => new TreeStore(db, scanId),
    scanWriter: (policy) => new ScanWriter(db, policy),
    withUnitOfWork: (fn) => withUnitOfWork(db, fn),
  };
}
