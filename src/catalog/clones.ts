/** Catalog bookkeeping of reflink actions: the journaled clone inode, rows, bytes shared. */
import type { BigIntStats } from 'node:fs';
import type { DB } from './db.js';
import { fileIdByPath } from './replacement.js';
import { stmt } from './stmt.js';

/** Journal the clone's inode (committed at once: it must be on record before the rename). */
export function journalCloneInode(db: DB, actionId: number, inode: bigint): void {
  stmt(db, 'UPDATE conductor_journal SET temp_inode = ? WHERE action_id = ?').run(
    BigInt.asIntN(64, inode),
    actionId,
  );
}

/** The clone inode journaled for an action, if it got that far. */
export function journaledCloneInode(db: DB, actionId: number): bigint | undefined {
  const r = stmt(db, 'SELECT temp_inode FROM conductor_journal WHERE action_id = ?')
    .safeIntegers(true)
    .get(actionId) as { temp_inode: bigint | null } | undefined;
  return r?.temp_inode ?? undefined;
}

/**
 * The target path is now the clone: its row takes the clone's identity and metadata (the hashes
 * stay: same content). The replaced inode's other rows are brought up to date separately.
 */
export function recordClone(db: DB, deviceId: number, targetPath: Buffer, st: BigIntStats): void {
  const id = fileIdByPath(db, deviceId, targetPath);
  if (id === undefined) return;
  stmt(
    db,
    `UPDATE files SET inode = ?, nlink = ?, size = ?, mtime_ns = ?, ctime_ns = ?,
                      mode = ?, uid = ?, gid = ?, blocks = ?
      WHERE id = ?`,
  ).run(
    BigInt.asIntN(64, st.ino),
    st.nlink,
    st.size,
    st.mtimeNs,
    st.ctimeNs,
    st.mode,
    st.uid,
    st.gid,
    st.blocks,
    id,
  );
}

/**
 * Bytes a reflink execution made shared: the planned own bytes of the target inodes all of whose
 * planned actions are executed (their blocks are dropped for the kept file's).
 */
export function bytesShared(db: DB, planId: number): number {
  const r = db
    .prepare(
      `SELECT coalesce(sum(b), 0) AS b FROM (
          SELECT max(bytes_to_save) AS b FROM conductor_actions
           WHERE plan_id = ? AND action_type = 'HARDLINK'
           GROUP BY device_id, target_inode
          HAVING sum(status != 'executed') = 0)`,
    )
    .get(planId) as { b: number };
  return r.b;
}

/** The inode the catalog records at a path (active row), if any. */
export function catalogInode(db: DB, deviceId: number, path: Buffer): bigint | undefined {
  const id = fileIdByPath(db, deviceId, path);
  if (id === undefined) return undefined;
  const r = stmt(db, `SELECT inode FROM files WHERE id = ? AND status = 'active'`)
    .safeIntegers(true)
    .get(id) as { inode: bigint } | undefined;
  return r?.inode;
}
