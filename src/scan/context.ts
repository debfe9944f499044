/** What the stages of one scan share. */
import type { Catalog } from '../catalog/port.js';
import type { ScanCatalog, ScanOwner } from '../catalog/scan-port.js';
import type { HostIdentity } from '../fs/host.js';
import type { MountEntry } from '../fs/mountinfo.js';
import type { ExcludeMatcher } from './exclude.js';
import type { LazyHashPool } from './hash-pool.js';
import type { OwnFilesHere } from './own-files.js';
import type { ScanOptions, ScanProgress, ScanSummary } from './summary.js';
import type { WalkHasher } from './walk-hasher.js';

/** The catalog as a scan uses it: the scan concern and units of work, no handle. */
export type ScanPort = Pick<Catalog, keyof ScanCatalog | 'unitOfWork'> &
  Partial<Pick<Catalog, 'ownFiles'>>;

export interface ScanContext {
  readonly catalog: ScanPort;
  readonly opts: ScanOptions;
  /** This process, as recorded on the scans it starts (so a later scan can tell it is gone). */
  readonly owner: ScanOwner;
  /** This host: its mounts of the devices it scans are recorded, bare device numbers qualified. */
  readonly host: HostIdentity;
  readonly summary: ScanSummary;
  readonly progress: ScanProgress;
  readonly report: () => void;
  readonly addError: (path: Buffer, err: unknown) => void;
  readonly shouldStop: () => boolean;
  readonly pools: LazyHashPool;
  readonly hasher: WalkHasher;
  readonly mounts: readonly MountEntry[];
  readonly isExcluded: ExcludeMatcher | undefined;
  readonly ownFiles: OwnFilesHere | undefined;
}
