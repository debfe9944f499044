/**
 * The merge of one directory's listing into the catalog's tree: rows of listed files are
 * updated or created (new ones offered to the walk's hashing first), and rows the directory no
 * longer holds are parked, to be marked deleted only when the root's walk finishes.
 */
import type { TreeStore } from '../catalog/tree.js';
import { byteKey } from '../paths.js';
import type { ScanSummary } from './summary.js';
import type { WalkHasher } from './walk-hasher.js';
import type { DirListing, ListedFile } from './walker.js';

export interface MergeTarget {
  readonly tree: TreeStore;
  readonly hasher: WalkHasher;
  /** Counts new, changed and unchanged files. */
  readonly summary: ScanSummary;
}

/** Merge a listing (inside the caller's unit of work); returns the directory's row id. */
export function mergeListing({ tree, hasher, summary }: MergeTarget, l: DirListing): number {
  const deviceId = l.device.deviceId;
  const dirId = tree.ensureDir(deviceId, l.fsPath, l.parentDirId);
  const existing = tree.filesIn(dirId);
  // Listed files with a row are merged at once; the new ones are asked about together (may
  // they be moves?), then inserted or offered to the walk's hashing, in listing order.
  const fresh: ListedFile[] = [];
  for (const f of l.files) {
    const key = byteKey(f.name);
    const row = existing.get(key);
    if (row) {
      summary[tree.mergeFile(f.meta, row)]++;
      existing.delete(key);
    } else fresh.push(f);
  }
  if (fresh.length > 0) {
    hasher.beginListing(
      deviceId,
      fresh.map((f) => f.meta),
    );
  }
  for (const f of fresh) {
    summary.new++;
    const file = { tree, deviceId, dirId, dirAbs: l.abs, name: f.name, meta: f.meta };
    if (!hasher.offerNew(file)) hasher.inserted(tree.insertFile(deviceId, dirId, f.name, f.meta));
  }
  for (const k of l.kept) existing.delete(byteKey(k));
  // What is left was not listed as a regular file in a completely listed directory.
  for (const row of existing.values()) if (row.active) tree.parkGoneFile(row.id);
  const present = new Set([...l.subdirs, ...l.kept].map(byteKey));
  for (const sub of tree.subdirsOf(dirId)) {
    if (!present.has(byteKey(sub.name))) tree.parkGoneDir(sub.id);
  }
  tree.markListed(dirId);
  return dirId;
}
