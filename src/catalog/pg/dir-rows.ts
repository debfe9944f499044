/**
 * New directory rows written behind the walk (write-behind.ts): a directory whose parent this
 * scan inserted. Its row id is handed out at once (id-blocks.ts) and its row goes to the
 * server with the next batch, already marked listed and merging, as dir-row.ts inserts one,
 * with the listing's fingerprint kept for when the scan finishes (../listing-fingerprint.ts).
 *
 * Why such a directory has no row of an earlier scan: every directory row has its parent's
 * row (a scan inserts the missing parents first, tree.ts ensureDir) and the parent had none
 * before this scan. Another scan running now may have inserted it, though, once the parent's
 * row was committed (the walk commits every second): paths are unique per device, so the
 * insert keeps that scan's row (ON CONFLICT DO NOTHING) and the id handed out is mapped to it
 * (`remap`): the rows below it go there, and the files' inserts keep the rows that scan
 * inserted (file-rows.ts). Its listing fingerprint is not kept: that scan's rows were not
 * merged from this listing, so the next scan merges the directory. A directory whose parent
 * this transaction inserted, uncommitted, cannot meet a row of another scan (that scan would
 * have to insert the parent first, which waits for this transaction).
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

/** Ids handed out for directories another scan inserted first → the rows that hold them. */
export type DirRemap = Map<number, number>;

/**
 * Insert the buffered directories (and their pending fingerprints), parents before children,
 * mapping in `remap` the ids of those another scan inserted first. One statement when none
 * was (the common case: nothing else scans the same paths), else a statement per directory.
 */
export async function writeDirRows(
  client: pg.Client,
  dirs: readonly BufferedDir[],
  remap: DirRemap,
): Promise<void> {
  if (dirs.length === 0) return;
  const inBatch = new Set(dirs.map((d) => d.id));
  const rows = dirs.map((d) => ({
    ...d,
    parentId: remap.get(d.parentId) ?? d.parentId,
    // Its parent is not in this batch: written before (maybe committed), or another scan's.
    first: !inBatch.has(d.parentId),
  }));
  const inserted = await insertDirs(client, rows);
  if (inserted.size === rows.length) return;
  // Another scan inserted some first (the rows below them were not sent: see insertDirs).
  // Each directory left, in order, by itself: its parent may have just been mapped.
  for (const d of rows) {
    if (inserted.has(d.id)) continue;
    const parentId = remap.get(d.parentId) ?? d.parentId;
    if (!d.first || parentId !== d.parentId) {
      const one = await insertDirs(client, [{ ...d, parentId, first: true }]);
      if (one.size === 1) continue;
    }
    const r = await client.query<{ id: string }>(
      'SELECT id FROM dirs WHERE device_id = $1 AND path = $2',
      [d.deviceId, d.path],
    );
    // ON CONFLICT found it (and waited for its transaction to commit): it is visible now.
    const theirs = r.rows[0];
    if (!theirs) throw new Error(`no row for directory ${d.path.toString('hex')} after a conflict`);
    remap.set(d.id, Number(theirs.id));
  }
}

/**
 * One statement: the directories whose parent is not in the batch (`first`), keeping a row
 * another scan inserted (ON CONFLICT DO NOTHING); then, only if every one of those was
 * inserted, the others (their parents are this transaction's: no conflict is possible, and
 * none names a parent that was not inserted). Fingerprints only for the rows inserted.
 * Returns their ids.
 */
async function insertDirs(
  client: pg.Client,
  dirs: readonly (BufferedDir & { readonly first: boolean })[],
): Promise<Set<number>> {
  const col = <T>(f: (d: BufferedDir & { readonly first: boolean }) => T): T[] => dirs.map(f);
  const r = await client.query<{ id: string }>(
    `WITH n AS (
       SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::bytea[], $5::int8[], $6::bytea[],
                            $7::int8[])
                  AS n(id, device_id, parent_id, path, scan_id, fp, first)),
     firsts AS (
       INSERT INTO dirs (id, device_id, parent_id, path, status, last_listed_scan, listing_fp)
       SELECT id, device_id, parent_id, path, 'active', scan_id, '\\x'::bytea FROM n WHERE first = 1
       ON CONFLICT (device_id, path) DO NOTHING
       RETURNING id),
     rest AS (
       INSERT INTO dirs (id, device_id, parent_id, path, status, last_listed_scan, listing_fp)
       SELECT id, device_id, parent_id, path, 'active', scan_id, '\\x'::bytea FROM n
        WHERE first = 0 AND (SELECT count(*) FROM firsts) = $8
       RETURNING id),
     done AS (SELECT id FROM firsts UNION ALL SELECT id FROM rest),
     fp AS (
       INSERT INTO pg_temp.pending_fps (dir_id, fp)
       SELECT n.id, n.fp FROM n JOIN done ON done.id = n.id WHERE n.fp IS NOT NULL)
     SELECT id FROM done`,
    [
      int8Array(col((d) => d.id)),
      int8Array(col((d) => d.deviceId)),
      int8Array(col((d) => d.parentId)),
      byteaArray(col((d) => d.path)),
      int8Array(col((d) => d.scanId)),
      byteaArray(col((d) => d.fingerprint ?? null)),
      int8Array(col((d) => (d.first ? 1 : 0))),
      dirs.filter((d) => d.first).length,
    ],
  );
  return new Set(r.rows.map((row) => Number(row.id)));
}
