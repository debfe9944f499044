/** What a scan is asked to do, what it shows while it runs, and what it reports at the end. */
import type { HashStage } from '../catalog/hashing.js';
import type { PruneKind, SkipKind } from './walker.js';

export type HashMode = 'candidates' | 'all';

export interface ScanOptions {
  /** As given on the command line, or as the catalog recorded them (bytes). */
  readonly roots: readonly (string | Buffer)[];
  readonly oneFileSystem?: boolean;
  readonly exclude?: readonly string[];
  readonly hash?: HashMode;
  readonly jobs?: number;
  readonly shouldStop?: () => boolean;
  readonly onProgress?: (p: ScanProgress) => void;
  /** Errors kept in the summary; the rest are only counted. */
  readonly maxErrors?: number;
}

export interface ScanProgress {
  phase: 'walk' | 'hash';
  files: number;
  dirs: number;
  /** Files hashed while the walk went on (the hash phase counts its own). */
  walkHashed: number;
  /** Bytes read by the walk's hashing. */
  walkHashedBytes: number;
  hashedFiles: number;
  hashedBytes: number;
  /** Jobs of the hash phase so far (all stages started yet): grows when a stage starts. */
  hashTotalFiles: number;
  hashTotalBytes: number;
  /** Jobs of the hash phase finished, hashed or not (changed, unreadable): at most the total. */
  hashDoneFiles: number;
  /** The running stage of the hash phase, and whether another may follow it. */
  stage?: HashStage;
  laterStages: boolean;
  /** Bytes to read in the running stage ('full', 'all'; 0 for 'prefix'), and read so far. */
  stageBytes: number;
  stageBytesDone: number;
}

export interface ScanError {
  readonly path: Buffer;
  readonly error: string;
}

export interface ScanSummary {
  roots: { root: Buffer; scanId: number; device: string; status: string }[];
  files: number;
  dirs: number;
  new: number;
  changed: number;
  unchanged: number;
  moved: number;
  deleted: number;
  hashedFiles: number;
  hashedBytes: number;
  hashChanged: number;
  skipped: Record<SkipKind, number>;
  pruned: Record<PruneKind, number>;
  errors: ScanError[];
  errorCount: number;
  pending: number;
  interrupted: boolean;
  elapsedMs: number;
  /** Earlier scans found killed mid-way (their partial results were kept). */
  recovered: { root: Buffer; startedAt: number }[];
}

export function emptySummary(): ScanSummary {
  return {
    roots: [],
    files: 0,
    dirs: 0,
    new: 0,
    changed: 0,
    unchanged: 0,
    moved: 0,
    deleted: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    hashChanged: 0,
    skipped: { symlink: 0, fifo: 0, socket: 0, device: 0, other: 0, catalog: 0 },
    pruned: { excluded: 0, other_filesystem: 0, pseudo_filesystem: 0, bind_mount: 0 },
    errors: [],
    errorCount: 0,
    pending: 0,
    interrupted: false,
    elapsedMs: 0,
    recovered: [],
  };
}

export function emptyProgress(): ScanProgress {
  return {
    phase: 'walk',
    files: 0,
    dirs: 0,
    walkHashed: 0,
    walkHashedBytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    hashTotalFiles: 0,
    hashTotalBytes: 0,
    hashDoneFiles: 0,
    laterStages: false,
    stageBytes: 0,
    stageBytesDone: 0,
  };
}
