/** What the stages of one scan share. */
import type { ScanCatalog } from '../catalog/scan-port.js';
import type { MountEntry } from '../fs/mountinfo.js';
import type { ExcludeMatcher } from './exclude.js';
import type { LazyHashPool } from './hash-pool.js';
import type { ScanOptions, ScanProgress, ScanSummary } from './summary.js';
import type { WalkHasher } from './walk-hasher.js';

export interface ScanContext {
  readonly catalog: ScanCatalog;
  readonly opts: ScanOptions;
  /** This process, as recorded on the scans it starts (so a later scan can tell it is gone). */
  readonly owner: { readonly pid: number; readonly startTime: string };
  readonly summary: ScanSummary;
  readonly progress: ScanProgress;
  readonly report: () => void;
  readonly addError: (path: Buffer, err: unknown) => void;
  readonly shouldStop: () => boolean;
  readonly pools: LazyHashPool;
  readonly hasher: WalkHasher;
  readonly mounts: readonly MountEntry[];
  readonly isExcluded: ExcludeMatcher | undefined;
}
