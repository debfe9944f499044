/**
 * A rescan's prefetched fingerprints on PostgreSQL (as ../dir-fingerprints.ts on SQLite): the
 * stored fingerprints under the scan's root read a page at a time (one round trip per page
 * instead of one per directory), and the directories found unchanged marked listed by one
 * statement per page, each only while it is active and still holds the fingerprint matched.
 */
import type pg from 'pg';
import { ROOT_PATH } from '../../paths.js';
import {
  FINGERPRINT_PAGE,
  type DirFingerprintOps,
  type FingerprintScope,
  type StoredFingerprint,
  type UnchangedDir,
} from '../dir-fingerprints.js';
import { descendantRange } from '../tree.js';

type Row = { id: string; path: string; fp: string };

const toRow = (r: Row): StoredFingerprint => ({
  dirId: Number(r.id),
  pathHex: r.path,
  fingerprintHex: r.fp,
});

/** A stored fingerprint in hex: 32 bytes (a directory being merged holds an empty one). */
const FP_HEX = 64;

/** Hex (../dir-fingerprints.ts says why). */
const COLUMNS = `id, encode(path, 'hex') AS path, encode(listing_fp, 'hex') AS fp`;

/** The scope's stored fingerprints, in pages: `under` first, then the paths below it in order. */
export async function* pgStoredFingerprintPages(
  client: pg.Client,
  { deviceId, under, pageSize = FINGERPRINT_PAGE }: FingerprintScope,
): AsyncGenerator<StoredFingerprint[]> {
  if (!under.equals(ROOT_PATH)) {
    const own = await client.query<Row>(
      `SELECT ${COLUMNS} FROM dirs
        WHERE device_id = $1 AND path = $2 AND status = 'active' AND length(listing_fp) = 32`,
      [deviceId, under],
    );
    if (own.rows.length > 0) yield own.rows.map(toRow);
  }
  const [lo, hi] = descendantRange(under);
  let after: Buffer = Buffer.alloc(0);
  for (;;) {
    // In (device_id, path) order, the index's (`dirs.path`: the column, not the hex output
    // column of the same name, which would sort every row in scope for each page). The
    // fingerprint's length is checked here rather than in SQL: the planner gives
    // `length(listing_fp) = 32` a default selectivity of 0.5%, and from a scope of 25 rows
    // where there were 5,000 it read the whole table and sorted it for every page (6–14 ms a
    // page on the reference tree, against ~1 ms through the index).
    const r = await client.query<Row>(
      `SELECT ${COLUMNS} FROM dirs
        WHERE device_id = $1 AND path >= $2 AND path < $3 AND path > $4
          AND status = 'active' AND listing_fp IS NOT NULL
        ORDER BY dirs.path LIMIT $5`,
      [deviceId, lo, hi, after, pageSize],
    );
    if (r.rows.length === 0) return;
    const stored = r.rows.filter((row) => row.fp.length === FP_HEX);
    if (stored.length > 0) yield stored.map(toRow);
    if (r.rows.length < pageSize) return;
    after = Buffer.from(r.rows[r.rows.length - 1]!.path, 'hex');
  }
}

/** Mark a page of unchanged directories listed by `scanId`; resolves to how many were. */
export async function pgMarkUnchangedDirs(
  client: pg.Client,
  scanId: number,
  dirs: readonly UnchangedDir[],
): Promise<number> {
  if (dirs.length === 0) return 0;
  const r = await client.query(
    `UPDATE dirs d SET last_listed_scan = $1
       FROM unnest($2::int8[], $3::bytea[]) AS u(id, fp)
      WHERE d.id = u.id AND d.status = 'active' AND d.listing_fp = u.fp`,
    [scanId, dirs.map((d) => d.dirId), dirs.map((d) => d.fingerprint)],
  );
  return r.rowCount ?? 0;
}

/** The PostgreSQL implementation, for the scan `scanId` (wired into pgScanOps' tree). */
export function pgDirFingerprintOps(client: pg.Client, scanId: number): DirFingerprintOps {
  return {
    storedFingerprints: (scope) => pgStoredFingerprintPages(client, scope),
    markUnchanged: (dirs) => pgMarkUnchangedDirs(client, scanId, dirs),
  };
}
