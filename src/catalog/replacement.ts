/**
 * The catalog rows after a replacement: the replaced target's row, the link counts and ctimes
 * of the inodes touched, and the ctimes our own changes left (conductor_inode_state).
 */
import type { DB } from './db.js';
import { baseName, parentOf } from '../paths.js';
import { stmt } from './stmt.js';

/** The row id of an active file by its path inside its filesystem (indexed lookups only). */
export function fileIdByPath(db: DB, deviceId: number, path: Buffer): number | undefined {
  const dir = stmt(db, 'SELECT id FROM dirs WHERE device_id = ? AND path = ?').get(
    deviceId,
    Buffer.from(parentOf(path)),
  ) as { id: number } | undefined;
  if (!dir) return undefined;
  const f = stmt(db, `SELECT id FROM files WHERE dir_id = ? AND name = ?`).get(
    dir.id,
    Buffer.from(baseName(path)),
  ) as { id: number } | undefined;
  return f?.id;
}

/**
 * Our own link or rename changed an inode's ctime and link count. Recorded once per inode (not
 * on every action that names it, which made big groups quadratic), in the same transaction as
 * the outcome, so that neither this run nor a resumed one mistakes our change for someone else's.
 */
export function propagateIdentity(
  db: DB,
  planId: number,
  deviceId: number,
  inode: bigint,
  ctimeNs: bigint,
  nlink: number,
): void {
  stmt(
    db,
    `INSERT INTO conductor_inode_state (plan_id, device_id, inode, ctime_ns, nlink) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (plan_id, device_id, inode) DO UPDATE SET ctime_ns = excluded.ctime_ns, nlink = excluded.nlink`,
  ).run(planId, deviceId, inode, ctimeNs, nlink);
}

/** The ctime our own operations last left on an inode during this plan's execution. */
export function ownCtime(
  db: DB,
  planId: number,
  deviceId: number,
  inode: bigint,
): bigint | undefined {
  const r = stmt(
    db,
    `SELECT ctime_ns FROM conductor_inode_state WHERE plan_id = ? AND device_id = ? AND inode = ?`,
  )
    .safeIntegers(true)
    .get(planId, deviceId, inode) as { ctime_ns: bigint } | undefined;
  return r?.ctime_ns;
}

/**
 * CROSS JOIN makes the page's list the outer loop, so each inode is one primary-key lookup.
 * With a plain JOIN, SQLite chose the table as the outer loop (searched by plan_id alone) and
 * scanned the list for every row the plan had touched so far: quadratic in the plan's size,
 * 90 s of CPU for the reference tree's execute instead of a fraction of a second.
 * test/unit/query-plans.test.ts holds the plan to this.
 */
export const OWN_CTIMES_SQL = `SELECT s.device_id AS dev, s.inode AS ino, s.ctime_ns AS ctime
       FROM json_each(?) j
       CROSS JOIN conductor_inode_state s
         ON s.plan_id = ? AND s.device_id = json_extract(j.value, '$[0]')
        AND s.inode = CAST(json_extract(j.value, '$[1]') AS INTEGER)`;

/**
 * ownCtime for many inodes in one query (a page of actions' sources and targets), by
 * `device:inode`; inodes our execution never changed are absent.
 */
export function ownCtimes(
  db: DB,
  planId: number,
  inodes: readonly { readonly deviceId: number; readonly inode: bigint }[],
): Map<string, bigint> {
  const found = new Map<string, bigint>();
  if (inodes.length === 0) return found;
  const rows = stmt(db, OWN_CTIMES_SQL)
    .safeIntegers(true)
    .all(JSON.stringify(inodes.map((i) => [i.deviceId, i.inode.toString()])), planId) as {
    dev: bigint;
    ino: bigint;
    ctime: bigint;
  }[];
  for (const r of rows) found.set(`${r.dev}:${r.ino}`, r.ctime);
  return found;
}

/** What a replaced target's row takes from the source inode's row (same content). */
interface SourceRow {
  prefix_hash: Buffer;
  sha256: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Source rows already read, by `device:inode`: the actions of a group share their source, so
 * an outcome transaction reads it once. Valid for one transaction (nothing else writes then).
 */
export type SourceRows = Map<string, SourceRow | undefined>;

/**
 * After `target` became a link of the source inode: its row takes the source's identity and
 * hashes (same content). The other rows of both inodes are brought up to date once per group
 * with recordInodeMeta, not once per action.
 *
 * The row is found by `targetFileId` (the plan's record of it; rows are never deleted or moved,
 * and the name is checked), or by its path when the plan has none or the id no longer matches.
 */
export interface Replacement {
  readonly deviceId: number;
  readonly targetPath: Buffer;
  /** The inode the target is now a link of. */
  readonly sourceInode: bigint;
  /** The source inode as it is now (after the link). */
  readonly st: { nlink: number; ctimeNs: bigint; mtimeNs: bigint };
  /** The target's row when the plan was made (absent in older plans). */
  readonly targetFileId?: number | undefined;
  /** Source rows already read in this transaction. */
  readonly sources?: SourceRows | undefined;
}

export function recordReplacement(db: DB, r: Replacement): void {
  const { deviceId, targetPath, sourceInode, st, targetFileId, sources } = r;
  const key = `${deviceId}:${sourceInode}`;
  let src: SourceRow | undefined;
  if (sources?.has(key)) src = sources.get(key);
  else {
    src = stmt(
      db,
      `SELECT prefix_hash, sha256, mode, uid, gid FROM files
        WHERE device_id = ? AND inode = ? AND status = 'active' AND sha256 IS NOT NULL LIMIT 1`,
    ).get(deviceId, sourceInode) as SourceRow | undefined;
    sources?.set(key, src);
  }
  const values = [
    sourceInode,
    st.nlink,
    st.mtimeNs,
    st.ctimeNs,
    src?.prefix_hash ?? null,
    src?.sha256 ?? null,
    src?.mode ?? null,
    src?.uid ?? null,
    src?.gid ?? null,
  ];
  const set = `UPDATE files SET inode = ?, nlink = ?, mtime_ns = ?, ctime_ns = ?,
                      prefix_hash = coalesce(?, prefix_hash), sha256 = coalesce(?, sha256),
                      mode = coalesce(?, mode), uid = coalesce(?, uid), gid = coalesce(?, gid)`;
  if (
    targetFileId !== undefined &&
    stmt(db, `${set} WHERE id = ? AND device_id = ? AND name = ?`).run(
      ...values,
      targetFileId,
      deviceId,
      Buffer.from(baseName(targetPath)),
    ).changes > 0
  ) {
    return;
  }
  const target = fileIdByPath(db, deviceId, targetPath);
  if (target === undefined) return;
  stmt(db, `${set} WHERE id = ?`).run(...values, target);
}

/** Every active row of an inode takes its current link count and ctime. */
export function recordInodeMeta(
  db: DB,
  deviceId: number,
  inode: bigint,
  st: { nlink: number; ctimeNs: bigint },
): void {
  stmt(
    db,
    `UPDATE files SET nlink = ?, ctime_ns = ? WHERE device_id = ? AND inode = ? AND status = 'active'`,
  ).run(st.nlink, st.ctimeNs, deviceId, inode);
}
