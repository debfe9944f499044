/**
 * The statements that write hash results on PostgreSQL (hashing.ts decides which, and
 * write-behind.ts when): hashes land only on active rows that still have the identity that was
 * hashed, by row id for an inode with one path, else on every path of the inode; inodes read or
 * failed are marked in session tables, once each. Each is one statement over binary arrays
 * (binary-array.ts), whatever the number of results.
 */
import type pg from 'pg';
import type { HashResults, InodeRef } from '../hashing.js';
import { byteaArray, int8Array } from './binary-array.js';

/** A hash result to store (HashResults['stored'] of ../hashing.ts). */
export type StoredHash = HashResults['stored'][number];

/**
 * Where results land: `row`, the row of `target.fileId` (already resolved; an inode with one
 * path, found by its primary key rather than the inode index); `inode`, every active path of
 * the inode (several paths).
 */
export type HashMatch = 'row' | 'inode';

/**
 * Write hash results by one statement, each on the rows `match` names.
 *
 * The statement is shaped so that its plan does not depend on statistics, which a first scan
 * never has (its role may not ANALYZE, and autovacuum comes too late): every result probes its
 * rows through an index (the LATERAL subquery, kept per row by OFFSET 0: the primary key for
 * `row`, files_inode for `inode`), and the update reaches those rows by id. Joined instead, the
 * planner took `files` for a few hundred active rows (the default selectivity of
 * `status = 'active'`) and hashed every active row of the catalog for each statement: 28
 * updates of 6,490 rows cost 0.67 s of server time on a first scan of the reference tree. The
 * probe says `status <> 'deleted'` (the same rows: the column's CHECK allows only these two)
 * so that no plan can prefer files_active_size, whose predicate is `status = 'active'`.
 */
export async function writeHashes(
  client: pg.Client,
  match: HashMatch,
  list: readonly StoredHash[],
): Promise<void> {
  if (list.length === 0) return;
  const byRow = match === 'row';
  await client.query(
    `WITH found AS MATERIALIZED (
       SELECT g.id, h.prefix, h.suffix, h.sha256
         FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[], $6::int8[],
                     $7::int8[], $8::int8[]${byRow ? ', $9::int8[]' : ''})
              AS h(prefix, suffix, sha256, device_id, inode, size, mtime_ns, ctime_ns${byRow ? ', file_id' : ''})
        CROSS JOIN LATERAL (
          SELECT g.id FROM files g
           WHERE ${byRow ? 'g.id = h.file_id AND ' : ''}g.device_id = h.device_id AND g.inode = h.inode
             AND g.size = h.size AND g.mtime_ns = h.mtime_ns AND g.ctime_ns = h.ctime_ns
             AND g.status <> 'deleted'
          OFFSET 0) AS g)
     UPDATE files f SET prefix_hash = found.prefix, suffix_hash = coalesce(found.suffix, f.suffix_hash),
                        sha256 = coalesce(found.sha256, f.sha256)
       FROM found
      WHERE f.id = ANY(ARRAY(SELECT id FROM found)) AND f.id = found.id`,
    [
      byteaArray(list.map((s) => s.prefix)),
      byteaArray(list.map((s) => s.suffix ?? null)),
      byteaArray(list.map((s) => s.sha256 ?? null)),
      int8Array(list.map((s) => s.target.deviceId)),
      int8Array(list.map((s) => s.target.inode)),
      int8Array(list.map((s) => s.target.size)),
      int8Array(list.map((s) => s.target.mtimeNs)),
      int8Array(list.map((s) => s.target.ctimeNs)),
      ...(byRow ? [int8Array(list.map((s) => s.target.fileId))] : []),
    ],
  );
}

/** Mark inodes in a session table (read or failed), once each. */
export async function markInodes(
  client: pg.Client,
  table: 'read_inodes' | 'failed_inodes',
  refs: readonly InodeRef[],
): Promise<void> {
  if (refs.length === 0) return;
  await client.query(
    `INSERT INTO pg_temp.${table} (device_id, inode)
       SELECT * FROM unnest($1::int8[], $2::int8[]) ON CONFLICT DO NOTHING`,
    [int8Array(refs.map((x) => x.deviceId)), int8Array(refs.map((x) => x.inode))],
  );
}
