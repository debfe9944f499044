/**
 * The merge of one directory's listing into the catalog's tree: rows of listed files are
 * updated or created (new ones offered to the walk's hashing first), and rows the directory no
 * longer holds are parked, to be marked deleted only when the root's walk finishes.
 */
import type { FileMeta, TreeStore } from '../catalog/tree.js';
import { byteKey } from '../paths.js';
import type { ScanSummary } from './summary.js';
import type { WalkHasher } from './walk-hasher.js';
import type { DirListing } from './walker.js';

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
  const keys = l.files.map((f) => byteKey(f.name));
  // The catalog is asked about the listing's new files at once, not file by file.
  const fresh: FileMeta[] = [];
  for (let i = 0; i < keys.length; i++) if (!existing.has(keys[i]!)) fresh.push(l.files[i]!.meta);
  if (fresh.length > 0) hasher.beginListing(deviceId, fresh);
  for (let i = 0; i < keys.length; i++) {
    const f = l.files[i]!;
    const key = keys[i]!;
    const row = existing.get(key);
    if (row) {
      summary[tree.mergeFile(f.meta, row)]++;
      existing.delete(key);
    } else {
      summary.new++;
      const file = { tree, deviceId, dirId, dirAbs: l.abs, name: f.name, meta: f.meta };
      if (!hasher.offerNew(file)) {
        hasher.inserted(tree.insertFile(deviceId, dirId, f.name, f.meta));
      }
    }
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
