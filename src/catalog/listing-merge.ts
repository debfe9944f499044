/**
 * The merge of one directory's listing into the tree, as one catalog operation: the rows of
 * listed files are compared and updated, rows the directory no longer holds are parked (marked
 * deleted only when the scan finishes, tree.ts), and the listed files without a row are handed
 * back, with which of their inodes the device already knows (possible moves). The caller then
 * decides which of them the walk's hashing takes and inserts the others (`insertFiles`).
 * One call per directory: a backend across a network pays one round trip for the listing.
 */
import { byteKey } from '../paths.js';
import { claimDevice } from './group-totals.js';
import { knownInodes } from './known-inodes.js';
import type { ListingFingerprints } from './listing-fingerprint.js';
import type { DB } from './db.js';
import type { FileMeta, MergeOutcome, TreeStore } from './tree.js';

export interface ListedFile {
  readonly name: Buffer;
  readonly meta: FileMeta;
}

export interface ListingInput {
  readonly deviceId: number;
  /** The directory's path within its filesystem. */
  readonly fsPath: Buffer;
  /** Its parent's row id when the walk listed the parent (else looked up or created). */
  readonly parentDirId: number | undefined;
  /** Its regular files, in listing order. */
  readonly files: readonly ListedFile[];
  /** Subdirectories on the same filesystem: their rows stay. */
  readonly subdirs: readonly Buffer[];
  /** Names present but not looked at (errors, exclusions, mount points): their rows stay. */
  readonly kept: readonly Buffer[];
  /**
   * 'probe': look up which new single-link files' inodes already have a row on the device
   * (possible moves); 'none': the device had no rows before this scan, so nothing can be a move.
   */
  readonly moves: 'probe' | 'none';
  /**
   * The listing's fingerprint (src/scan/walker.ts), absent when the listing alone does not
   * decide the walk's result: a directory that stored this one is merged without its rows.
   */
  readonly fingerprint?: Buffer | undefined;
}

export interface MergedListing {
  readonly dirId: number;
  /** Listed files that had a row: a deleted row that comes back counts as new. */
  readonly counts: Readonly<Record<MergeOutcome, number>>;
  /** Listed files without a row, in listing order: not inserted yet. */
  readonly fresh: readonly ListedFile[];
  /** Inodes among the fresh single-link files that some row of the device holds. */
  readonly knownInodes: ReadonlySet<bigint>;
}

const NO_INODES: ReadonlySet<bigint> = new Set();

export interface MergeStores {
  readonly db: DB;
  readonly tree: TreeStore;
  readonly fingerprints: ListingFingerprints;
}

export function mergeListing(
  { db, tree, fingerprints }: MergeStores,
  l: ListingInput,
): MergedListing {
  if (l.fingerprint) {
    // The listing its rows were merged from: all unchanged, nothing new, nothing gone.
    const id = fingerprints.unchanged(l.deviceId, l.fsPath, l.fingerprint);
    if (id !== undefined) {
      const counts = { new: 0, changed: 0, unchanged: l.files.length };
      return { dirId: id, counts, fresh: [], knownInodes: NO_INODES };
    }
  }
  // A device's first scan: its rows are grouped whole by the fold at its end (group-totals.ts).
  if (l.moves === 'none') claimDevice(db, l.deviceId);
  const dirId = tree.ensureDir(l.deviceId, l.fsPath, l.parentDirId);
  const existing = tree.filesIn(dirId);
  const counts = { new: 0, changed: 0, unchanged: 0 };
  const fresh: ListedFile[] = [];
  for (const f of l.files) {
    const key = byteKey(f.name);
    const row = existing.get(key);
    if (row) {
      counts[tree.mergeFile(f.meta, row)]++;
      existing.delete(key);
    } else fresh.push(f);
  }
  // Asked after the rows above were updated (a replaced file's row now has its new inode) and
  // before any of the fresh files is inserted.
  let known: ReadonlySet<bigint> = new Set();
  if (l.moves === 'probe') {
    const inodes: bigint[] = [];
    for (const f of fresh) if (f.meta.nlink === 1) inodes.push(f.meta.inode);
    if (inodes.length > 0) known = knownInodes(db, l.deviceId, inodes);
  }
  for (const k of l.kept) existing.delete(byteKey(k));
  // What is left was not listed as a regular file in a completely listed directory.
  for (const row of existing.values()) if (row.active) tree.parkGoneFile(row.id);
  const present = new Set([...l.subdirs, ...l.kept].map(byteKey));
  for (const sub of tree.subdirsOf(dirId)) {
    if (!present.has(byteKey(sub.name))) tree.parkGoneDir(sub.id);
  }
  tree.markListed(dirId);
  fingerprints.merged(dirId, l.fingerprint);
  return { dirId, counts, fresh, knownInodes: known };
}
