/**
 * The merge of one directory's listing into the catalog's tree: the catalog merges the rows of
 * listed files and parks those the directory no longer holds (to be marked deleted only when
 * the root's walk finishes) in one operation; the files without a row are then offered to the
 * walk's hashing, and those it does not take are inserted, together, in listing order.
 */
import type { NewFileRow, ScanTree } from '../catalog/scan-port.js';
import type { ScanSummary } from './summary.js';
import type { Offer, WalkHasher } from './walk-hasher.js';
import type { DirListing } from './walker.js';

export interface MergeTarget {
  readonly tree: ScanTree;
  readonly hasher: WalkHasher;
  /** Counts new, changed and unchanged files. */
  readonly summary: ScanSummary;
}

/** Merge a listing (inside the caller's unit of work); resolves to the directory's row id. */
export async function mergeListing(
  { tree, hasher, summary }: MergeTarget,
  l: DirListing,
): Promise<number> {
  const deviceId = l.device.deviceId;
  const moves = await hasher.movesPossible(deviceId);
  const merged = await tree.mergeListing({
    deviceId,
    fsPath: l.fsPath,
    parentDirId: l.parentDirId,
    files: l.files,
    subdirs: l.subdirs,
    kept: l.kept,
    moves,
    fingerprint: l.fingerprint,
  });
  const { dirId } = merged;
  summary.new += merged.counts.new;
  summary.changed += merged.counts.changed;
  summary.unchanged += merged.counts.unchanged;
  if (merged.fresh.length === 0) return dirId;
  // The new files in listing order: each is taken by the walk's hashing (its row is written
  // with its hashes later) or inserted now; the hashing wants some of their row ids.
  hasher.beginListing(merged.knownInodes);
  const rows: NewFileRow[] = [];
  const offers: Offer[] = [];
  for (const f of merged.fresh) {
    summary.new++;
    const file = { tree, deviceId, dirId, dirAbs: l.abs, name: f.name, meta: f.meta };
    const offer = hasher.offerNew(file);
    if (offer.kind === 'taken') continue;
    offers.push(offer);
    const hashes = offer.kind === 'insert-hashed' ? offer.hashes : undefined;
    rows.push({ deviceId, dirId, name: f.name, meta: f.meta, hashes });
  }
  if (rows.length === 0) return dirId;
  const ids = await tree.insertFiles(rows);
  ids.forEach((id, i) => hasher.inserted(offers[i]!, id));
  return dirId;
}
