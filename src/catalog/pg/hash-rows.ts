/**
 * The statements that write hash results on PostgreSQL (hashing.ts decides which, and
 * write-behind.ts when): hashes land only on active rows that still have the identity that was
 * hashed, by row id for an inode with one path, else on every path of the inode; inodes read or
 * failed are marked in session tables, once each. Each is one statement over binary arrays
 * (binary-array.ts), whatever the number of results.
 */
import type pg from 'pg';
import type { HashTarget, InodeRef } from '../hashing.js';
import { byteaArray, int8Array } from './binary-array.js';

/** A hash result to store (HashResults['stored'] of ../hashing.ts). */
export interface StoredHash {
  readonly target: HashTarget;
  readonly prefix: Buffer;
  readonly sha256: Buffer | undefined;
}

/**
 * Where results land: `row`, the row of `target.fileId` (already resolved; an inode with one
 * path, found by its primary key rather than the inode index); `inode`, every active path of
 * the inode (several paths).
 */
export type HashMatch = 'row' | 'inode';

/** Write hash results by one statement, each on the rows `match` names. */
export async function writeHashes(
  client: pg.Client,
  match: HashMatch,
  list: readonly StoredHash[],
): Promise<void> {
  if (list.length === 0) return;
  const byRow = match === 'row';
  await client.query(
    `UPDATE files f SET prefix_hash = h.prefix, sha256 = coalesce(h.sha256, f.sha256)
       FROM unnest($1::bytea[], $2::bytea[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                   $7::int8[]${byRow ? ', $8::int8[]' : ''})
            AS h(prefix, sha256, device_id, inode, size, mtime_ns, ctime_ns${byRow ? ', file_id' : ''})
      WHERE ${byRow ? 'f.id = h.file_id AND ' : ''}f.device_id = h.device_id AND f.inode = h.inode
        AND f.size = h.size AND f.mtime_ns = h.mtime_ns AND f.ctime_ns = h.ctime_ns
        AND f.status = 'active'`,
    [
      byteaArray(list.map((s) => s.prefix)),
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
