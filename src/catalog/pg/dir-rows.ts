/**
 * New directory rows written behind the walk (write-behind.ts): a directory whose parent this
 * transaction inserted. Its row id is handed out at once (id-blocks.ts) and its row goes to the
 * server with the next batch, already marked listed and merging, as dir-row.ts inserts one,
 * with the listing's fingerprint kept for when the scan finishes (../listing-fingerprint.ts).
 *
 * Why such a directory certainly has no row yet: every directory row has its parent's row
 * (a scan inserts the missing parents first, tree.ts ensureDir), paths are unique per device,
 * and the parent's row is this transaction's, uncommitted: another scan could only add a row
 * below it by inserting the parent first, which waits for this transaction. So the insert
 * has no ON CONFLICT: a conflict would mean that reasoning broke, and fails the scan.
 */
import type pg from 'pg';
import { byteaArray, int8Array } from './binary-array.js';

export interface BufferedDir {
  readonly id: number;
  readonly deviceId: number;
  readonly parentId: number;
  readonly path: Buffer;
  readonly scanId: number;
  /** The listing's fingerprint, stored when the scan finishes; none when not computed. */
  readonly fingerprint: Buffer | undefined;
}

/** Insert the buffered directories (and their pending fingerprints) by one statement. */
export async function writeDirRows(client: pg.Client, dirs: readonly BufferedDir[]): Promise<void> {
  if (dirs.length === 0) return;
  const col = <T>(f: (d: BufferedDir) => T): T[] => dirs.map(f);
  await client.query(
    `WITH n AS (
       SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::int8[], $6::bytea[])
                  AS n(id, device_id, parent_id, path, scan_id, fp)),
     ins AS (
       INSERT INTO dirs (id, device_id, parent_id, path, status, last_listed_scan, listing_fp)
       SELECT id, device_id, parent_id, path, 'active', scan_id, '\\x'::bytea FROM n)
     INSERT INTO pg_temp.pending_fps (dir_id, fp) SELECT id, fp FROM n WHERE fp IS NOT NULL`,
    [
      int8Array(col((d) => d.id)),
      int8Array(col((d) => d.deviceId)),
      int8Array(col((d) => d.parentId)),
      byteaArray(col((d) => d.path)),
      int8Array(col((d) => d.scanId)),
      byteaArray(col((d) => d.fingerprint ?? null)),
    ],
  );
}
