/**
 * The walk's shapes: what it reports to its hooks (a listed directory, an unchanged one, a
 * pruned entry), what it is given (root, options) and the directories it has yet to list. A
 * module of their own so that the walk's helpers (cross-mount.ts) and its callers share them
 * without importing walker.ts, which imports those helpers.
 */
import type { FileMeta } from '../catalog/tree.js';
import type { MountEntry } from '../fs/mountinfo.js';
import type { OwnFilesHere } from './own-files.js';
import type { SkipKind } from './skim.js';

export type { SkipKind } from './skim.js';

export interface DeviceContext {
  readonly deviceId: number;
  readonly identity: string;
  readonly fsType: string;
}

export interface ListedFile {
  readonly name: Buffer;
  readonly meta: FileMeta;
}

export interface DirListing {
  readonly abs: Buffer;
  readonly fsPath: Buffer;
  readonly device: DeviceContext;
  readonly parentDirId: number | undefined;
  readonly files: readonly ListedFile[];
  /** Subdirectories on the same filesystem (they will be listed in turn). */
  readonly subdirs: readonly Buffer[];
  /** Names present but not looked at (errors, exclusions, mount points): their rows stay. */
  readonly kept: readonly Buffer[];
  /**
   * The listing's fingerprint (dir-list.ts) when the listing alone decides this result: none
   * when a name was kept (an exclusion, an error, a mount point, a temporary link), which
   * depends on more than the listing.
   */
  readonly fingerprint: Buffer | undefined;
}

/** A listed directory whose listing the catalog holds (WalkHooks.knownListing). */
export interface UnchangedListing {
  readonly device: DeviceContext;
  readonly fsPath: Buffer;
  readonly dirId: number;
  readonly fingerprint: Buffer;
  /** Its regular files. */
  readonly files: number;
}

export type PruneKind = 'excluded' | 'other_filesystem' | 'pseudo_filesystem' | 'bind_mount';

export interface WalkHooks {
  /** A filesystem mounted below the root: its device context, or undefined to not descend. */
  enterMount(
    mount: MountEntry,
    stDev: bigint,
    identity: string | undefined,
  ): Promise<DeviceContext | undefined>;
  /**
   * Merge a listed directory; resolves to its catalog id (the parent of its subdirectories).
   * The walk goes on only once it has resolved.
   */
  listing(l: DirListing): Promise<number>;
  /**
   * The catalog's row id of the directory when it holds this very listing (its stored
   * fingerprint, known-listings.ts): asked before the listing is decoded, without a catalog
   * call. The directory is then skimmed (skim.ts) and reported to `unchanged`.
   */
  knownListing?(p: {
    readonly device: DeviceContext;
    readonly fsPath: Buffer;
    readonly fingerprint: Buffer;
  }): number | undefined;
  /** A directory found by `knownListing`: none of its files was decoded. */
  unchanged?(l: UnchangedListing): Promise<void>;
  /** After each listing: a promise to wait for before going on (backpressure), if any. */
  afterListing?(): Promise<void> | undefined;
  /** A directory or entry that could not be read. */
  error(abs: Buffer, err: unknown): void;
  skip(kind: SkipKind): void;
  prune(kind: PruneKind, abs: Buffer): void;
}

export interface WalkOptions {
  readonly oneFileSystem: boolean;
  readonly mounts: readonly MountEntry[];
  /** true when the entry (path relative to the root, its name) is excluded. */
  readonly isExcluded?: (rel: Buffer, name: Buffer, isDir: boolean) => boolean;
  /** The catalog's own files, never catalogued (./own-files.ts). */
  readonly ownFiles?: OwnFilesHere;
  readonly shouldStop: () => boolean;
}

export interface PendingDir {
  readonly abs: Buffer;
  readonly fsPath: Buffer;
  readonly device: DeviceContext;
  readonly stDev: bigint;
  /** The inode lstat showed when the parent was listed: what we must find when we open it. */
  readonly ino: bigint;
  parentDirId: number | undefined;
}

/** Where a walk starts: the root directory, as the parent of its first listing would see it. */
export interface WalkRoot {
  readonly abs: Buffer;
  /** Its path within its filesystem (what the catalog stores). */
  readonly fsPath: Buffer;
  readonly device: DeviceContext;
  /** What lstat showed when the root was resolved: what opening it must find. */
  readonly stDev: bigint;
  readonly ino: bigint;
}

export interface WalkParams {
  readonly root: WalkRoot;
  readonly hooks: WalkHooks;
  readonly options: WalkOptions;
}
