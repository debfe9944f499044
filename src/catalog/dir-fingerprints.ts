/**
 * A rescan's prefetched fingerprints (bench/NOTES.md): instead of asking the catalog
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
import type { DB } from './db.js';
import { stmt } from './stmt.js';
import { ROOT_PATH } from '../paths.js';

/**
 * An active directory with a stored fingerprint. Path and fingerprint come as hex (either
 * case; Buffer decodes both): a string each is cheaper to read by the hundred thousand than a
 * Buffer each, and smaller to hold (bench/NOTES.md).
 */
export interface StoredFingerprint {
  readonly dirId: number;
  /** Its path within its filesystem. */
  readonly pathHex: string;
  /** 32 bytes (SHA-256). */
  readonly fingerprintHex: string;
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

export const FINGERPRINT_PAGE = 1024;

const FP_LEN = 32;

/**
 * The scope's stored fingerprints, a page at a time (keyset paging, each row once, in no
 * promised order). Two plans: a scope that holds a good part of the catalog's directories is
 * read in row-id order straight from the table, filtered; a smaller one through the
 * (device_id, path) index, which then costs a table look-up per row. On the 1M-file tree (all
 * of its 50,000 directories in scope) the first took ~50 ms of CPU and the second ~240 ms
 * (the rows are stored in walk order, not path order).
 */
export function* storedFingerprintPages(
  db: DB,
  scope: FingerprintScope,
): Generator<StoredFingerprint[]> {
  const [lo, hi] = descendantRange(scope.under);
  const inScope = stmt(
    db,
    'SELECT count(*) FROM dirs WHERE device_id = ? AND path >= ? AND path < ?',
  )
    .pluck()
    .get(scope.deviceId, lo, hi) as number;
  const rows = stmt(db, 'SELECT coalesce(max(id), 0) FROM dirs').pluck().get() as number;
  yield* inScope * 4 >= rows ? pagesByRowid(db, scope) : pagesByPath(db, scope);
}

/** Hex of path and fingerprint: SQLite's is upper case, which Buffer's hex decoding accepts. */
const COLUMNS = 'id, hex(path), hex(listing_fp)';
const HAS_FP = `status = 'active' AND length(listing_fp) = ${FP_LEN}`;

function* pagesByRowid(
  db: DB,
  { deviceId, under, pageSize = FINGERPRINT_PAGE }: FingerprintScope,
): Generator<StoredFingerprint[]> {
  const [lo, hi] = descendantRange(under);
  // NOT INDEXED: the table in row-id order (the INTEGER PRIMARY KEY still bounds the page).
  const page = stmt(
    db,
    `SELECT ${COLUMNS} FROM dirs NOT INDEXED
      WHERE id > ? AND device_id = ? AND (path = ? OR (path >= ? AND path < ?)) AND ${HAS_FP}
      ORDER BY id LIMIT ?`,
  ).raw(true);
  let after = 0;
  for (;;) {
    const rows = page.all(after, deviceId, under, lo, hi, pageSize) as Raw[];
    if (rows.length > 0) yield rows.map(toRow);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]![0];
  }
}

function* pagesByPath(
  db: DB,
  { deviceId, under, pageSize = FINGERPRINT_PAGE }: FingerprintScope,
): Generator<StoredFingerprint[]> {
  if (!under.equals(ROOT_PATH)) {
    // The root's own row: descendantRange leaves it out (below it means past its '/').
    const own = stmt(
      db,
      `SELECT ${COLUMNS} FROM dirs WHERE device_id = ? AND path = ? AND ${HAS_FP}`,
    )
      .raw(true)
      .all(deviceId, under) as Raw[];
    if (own.length > 0) yield own.map(toRow);
  }
  const [lo, hi] = descendantRange(under);
  const page = stmt(
    db,
    `SELECT ${COLUMNS} FROM dirs
      WHERE device_id = ? AND path >= ? AND path < ? AND path > ? AND ${HAS_FP}
      ORDER BY path LIMIT ?`,
  ).raw(true);
  // Below every path: the empty blob.
  let after: Buffer = Buffer.alloc(0);
  for (;;) {
    const rows = page.all(deviceId, lo, hi, after, pageSize) as Raw[];
    if (rows.length > 0) yield rows.map(toRow);
    if (rows.length < pageSize) return;
    after = Buffer.from(rows[rows.length - 1]![1], 'hex');
  }
}

const toRow = ([dirId, pathHex, fingerprintHex]: Raw): StoredFingerprint => ({
  dirId,
  pathHex,
  fingerprintHex,
});

type Raw = [id: number, pathHex: string, fingerprintHex: string];

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
