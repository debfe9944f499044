/**
 * A rescan's prefetched fingerprints (README "Performance"): instead of asking the catalog
 * about each directory it lists (one statement per directory, one round trip on PostgreSQL),
 * the scan reads the stored fingerprints of every active directory under its root once, a
 * page at a time, compares each listing with them in memory, and marks the directories found
 * unchanged listed a page at a time (`markUnchanged`).
 *
 * What a prefetched fingerprint promises is checked again when the page is marked: a directory
 * is marked only while it is active and still holds the fingerprint the scan matched. Anything
 * that wrote one of its file rows in between (execute, undo, a concurrent scan) made the
 * trigger forget it (listing-fingerprint.ts); such a directory is left unmarked with the rows
 * that other writer left, as a directory the scan did not list.
 */
import { descendantRange } from './tree.js';
import type { DB } from './open.js';
import { stmt } from './stmt.js';
import { ROOT_PATH } from '../paths.js';

/** An active directory with a stored fingerprint. */
export interface StoredFingerprint {
  readonly dirId: number;
  /** Its path within its filesystem. */
  readonly path: Buffer;
  /** 32 bytes (SHA-256). */
  readonly fingerprint: Buffer;
}

/** A directory whose listing matched the fingerprint prefetched for it. */
export interface UnchangedDir {
  readonly dirId: number;
  readonly fingerprint: Buffer;
}

/** Which directories a prefetch reads: `under` and everything below it on the device. */
export interface FingerprintScope {
  readonly deviceId: number;
  readonly under: Buffer;
  /** Rows per page (FINGERPRINT_PAGE unless given). */
  readonly pageSize?: number;
}

export const FINGERPRINT_PAGE = 4096;

const FP_LEN = 32;

/**
 * The scope's stored fingerprints, a page at a time in path order (keyset paging on the
 * (device_id, path) index): the directory `under` first, then those below it.
 */
export function* storedFingerprintPages(
  db: DB,
  { deviceId, under, pageSize = FINGERPRINT_PAGE }: FingerprintScope,
): Generator<StoredFingerprint[]> {
  const toRow = (r: { id: number; path: Buffer; fp: Buffer }): StoredFingerprint => ({
    dirId: r.id,
    path: r.path,
    fingerprint: r.fp,
  });
  if (!under.equals(ROOT_PATH)) {
    // The root's own row: descendantRange leaves it out (below it means past its '/').
    const own = stmt(
      db,
      `SELECT id, path, listing_fp AS fp FROM dirs
          WHERE device_id = ? AND path = ? AND status = 'active' AND length(listing_fp) = ${FP_LEN}`,
    ).all(deviceId, under) as { id: number; path: Buffer; fp: Buffer }[];
    if (own.length > 0) yield own.map(toRow);
  }
  const [lo, hi] = descendantRange(under);
  const page = stmt(
    db,
    `SELECT id, path, listing_fp AS fp FROM dirs
      WHERE device_id = ? AND path >= ? AND path < ? AND path > ?
        AND status = 'active' AND length(listing_fp) = ${FP_LEN}
      ORDER BY path LIMIT ?`,
  );
  // Below every path: the empty blob.
  let after: Buffer = Buffer.alloc(0);
  for (;;) {
    const rows = page.all(deviceId, lo, hi, after, pageSize) as {
      id: number;
      path: Buffer;
      fp: Buffer;
    }[];
    if (rows.length === 0) return;
    yield rows.map(toRow);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.path;
  }
}

/**
 * Mark a page of unchanged directories listed by `scanId`, in one statement: the ids travel as
 * a JSON array and the fingerprints as one blob, the i-th 32 bytes for the i-th id. Resolves to
 * how many were marked (those still active and holding the fingerprint).
 */
export function markUnchangedDirs(db: DB, scanId: number, dirs: readonly UnchangedDir[]): number {
  if (dirs.length === 0) return 0;
  const ids = JSON.stringify(dirs.map((d) => d.dirId));
  const fps = Buffer.concat(
    dirs.map((d) => d.fingerprint),
    dirs.length * FP_LEN,
  );
  return stmt(
    db,
    `UPDATE dirs SET last_listed_scan = ?
        WHERE id IN (SELECT d.id FROM json_each(?) j JOIN dirs d ON d.id = j.value
                      WHERE d.status = 'active' AND d.listing_fp = substr(?, j.key * ${FP_LEN} + 1, ${FP_LEN}))`,
  ).run(scanId, ids, fps).changes;
}

/** The scan tree's operations for prefetched fingerprints (ScanTree, scan-port.ts). */
export interface DirFingerprintOps {
  /**
   * The stored fingerprints of the active directories at or below `under` on the device, a
   * page at a time: read once when a walk enters the device, and compared in memory.
   */
  storedFingerprints(scope: FingerprintScope): AsyncIterable<readonly StoredFingerprint[]>;
  /**
   * Mark listed by this scan a page of directories whose listing matched the prefetched
   * fingerprint, in one statement (inside the caller's unit of work); resolves to how many
   * were still active and held it (the others are left as they are: see above).
   */
  markUnchanged(dirs: readonly UnchangedDir[]): Promise<number>;
}

/** The SQLite implementation, for the scan `scanId`. */
export function sqliteDirFingerprintOps(db: DB, scanId: number): DirFingerprintOps {
  return {
    storedFingerprints: async function* (scope) {
      yield* storedFingerprintPages(db, scope);
    },
    markUnchanged: async (dirs) => markUnchangedDirs(db, scanId, dirs),
  };
}
