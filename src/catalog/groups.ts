/**
 * Duplicate groups, straight from SQL: nothing here holds the catalog in memory. Groups are
 * materialised into temporary tables, so callers can page through them while writing plans on
 * the same connection.
 *
 * A same-device group is (device, sha256, size) with at least two distinct inodes. An inode is
 * *pinned* when its link count exceeds the links the catalog knows: replacing the known paths
 * would not free its blocks.
 */
import type { DB } from './db.js';
import { scopeClause } from './scope.js';
import { stmt } from './stmt.js';
import { fillSameGroupsFromTotals, type GroupingSource } from './group-totals.js';
import { foldStoredTotals } from './stored-totals.js';

export interface GroupKey {
  readonly rowId: number;
  readonly deviceId: number;
  readonly sha256: Buffer;
  readonly size: number;
  readonly inodes: number;
  readonly paths: number;
  readonly pinned: number;
  /** Distinct (mode, owner, group) among the inodes: above 1, some copies cannot be linked. */
  readonly classes: number;
  /** Bytes a plan keeping a pinned inode (if any) frees: (inodes − max(pinned, 1)) × size. */
  readonly saveable: number;
}

/** Groups by owner/mode classes: those whose inodes all share one, or those with several. */
export type GroupClasses = 'one' | 'several';

/** Figures over the groups of one class (SQL's, as for every group). */
export interface OneClassTotals {
  /** Groups that free something. */
  readonly groups: number;
  /** Groups that free nothing: every inode pinned. */
  readonly blocked: number;
  readonly saveable: number;
  /** Pinned inodes in them. */
  readonly pinned: number;
}

export interface Member {
  readonly fileId: number;
  readonly deviceId: number;
  readonly path: Buffer;
  readonly inode: bigint;
  readonly nlink: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly sha256: Buffer | null;
}

const deviceFilter = (deviceId: number | undefined, col = 'device_id') =>
  deviceId === undefined ? '' : `AND ${col} = ${Number(deviceId)}`;

/** The totals over same_groups (both backends): all groups, and those of one class. */
export const SAME_GROUPS_TOTALS = `count(*) AS groups, coalesce(sum(saveable), 0) AS saveable,
  coalesce(sum(pinned), 0) AS pinned,
  count(*) FILTER (WHERE classes <= 1 AND saveable > 0) AS one_groups,
  count(*) FILTER (WHERE classes <= 1 AND saveable = 0) AS one_blocked,
  coalesce(sum(saveable) FILTER (WHERE classes <= 1), 0) AS one_saveable,
  coalesce(sum(pinned) FILTER (WHERE classes <= 1), 0) AS one_pinned`;

/**
 * Fill temp.same_groups, largest saving first; returns totals. `scoped`: only rows in
 * temp.scope_dirs (see scope.ts) count, so a link outside the scope pins its inode. `from`:
 * the stored totals where they apply (unscoped), or every row (the reference the stored
 * totals are tested against).
 */
export function prepareSameDeviceGroups(
  db: DB,
  deviceId?: number,
  scoped = false,
  from: 'stored-totals' | 'rows' = 'stored-totals',
): {
  groups: number;
  saveable: number;
  pinnedInodes: number;
  oneClass: OneClassTotals;
  source: GroupingSource;
} {
  db.exec(`DROP TABLE IF EXISTS temp.same_groups;
           CREATE TEMP TABLE same_groups (row_id INTEGER PRIMARY KEY, device_id INTEGER, sha256 BLOB,
             size INTEGER, inodes INTEGER, paths INTEGER, pinned INTEGER, classes INTEGER, saveable INTEGER);`);
  // Unscoped: the stored totals (group-totals.ts), regrouping only keys whose rows changed. A
  // scope counts only some of a group's rows (a link outside it pins): every row is grouped.
  // A writer (plan) folds first, so that the next reader finds nothing dirty; a reader (analyze
  // opens the catalog read-only) regroups the dirty keys and writes nothing.
  if (from === 'stored-totals' && !db.readonly) foldStoredTotals(db);
  const source =
    scoped || from === 'rows'
      ? groupEveryRow(db, deviceId, scoped)
      : fillSameGroupsFromTotals(db, deviceId);
  const r = db.prepare(`SELECT ${SAME_GROUPS_TOTALS} FROM temp.same_groups`).get() as {
    groups: number;
    saveable: number;
    pinned: number;
    one_groups: number;
    one_blocked: number;
    one_saveable: number;
    one_pinned: number;
  };
  return {
    groups: r.groups,
    saveable: r.saveable,
    pinnedInodes: r.pinned,
    oneClass: {
      groups: r.one_groups,
      blocked: r.one_blocked,
      saveable: r.one_saveable,
      pinned: r.one_pinned,
    },
    source,
  };
}

/** Group every row (in scope) into temp.same_groups: what the stored totals must equal. */
function groupEveryRow(db: DB, deviceId: number | undefined, scoped: boolean): GroupingSource {
  db.prepare(
    `INSERT INTO temp.same_groups (device_id, sha256, size, inodes, paths, pinned, classes, saveable)
     SELECT device_id, sha256, size, count(*), sum(paths), sum(nlink > paths), count(DISTINCT class),
            (count(*) - max(sum(nlink > paths), 1)) * size
       FROM (SELECT device_id, sha256, size, inode, max(nlink) AS nlink, count(*) AS paths,
                    max(mode) || ':' || max(uid) || ':' || max(gid) AS class
               FROM files INDEXED BY files_hashed -- in grouping order: no sort of every hashed row
              WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0 ${deviceFilter(deviceId)}
                    ${scopeClause(scoped)}
              GROUP BY sha256, device_id, size, inode)
      GROUP BY sha256, device_id, size
     HAVING count(*) > 1
      ORDER BY (count(*) - max(sum(nlink > paths), 1)) * size DESC, device_id, sha256`,
  ).run();
  return { kind: 'regrouped' };
}

/** SQL over same_groups' `classes` column for a GroupClasses (none: every group). */
export const classesFilter = (classes: GroupClasses | undefined): string =>
  classes === undefined ? '' : classes === 'one' ? 'AND classes <= 1' : 'AND classes > 1';

/** The prepared groups after a row id (only those of one class or of several, if asked). */
export function sameGroupPage(
  db: DB,
  afterRowId: number,
  limit: number,
  only: { readonly classes?: GroupClasses } = {},
): GroupKey[] {
  // Rows as arrays through a cached statement: analyze reads every group a page at a time,
  // and named-property row objects were most of that once the groups come from stored totals.
  const rows = stmt(
    db,
    `SELECT row_id, device_id, sha256, size, inodes, paths, pinned, classes, saveable
       FROM temp.same_groups WHERE row_id > ? ${classesFilter(only.classes)} ORDER BY row_id LIMIT ?`,
  )
    .raw(true)
    .all(afterRowId, limit) as [
    number,
    number,
    Buffer,
    number,
    number,
    number,
    number,
    number,
    number,
  ][];
  return rows.map((r) => ({
    rowId: r[0],
    deviceId: r[1],
    sha256: r[2],
    size: r[3],
    inodes: r[4],
    paths: r[5],
    pinned: r[6],
    classes: r[7],
    saveable: r[8],
  }));
}

/**
 * A member from a row read as an array with safe integers, its columns from `at` on in this
 * order: id, device_id, path, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, sha256.
 */
export function memberOf(a: readonly unknown[], at = 0): Member {
  return {
    fileId: Number(a[at] as bigint),
    deviceId: Number(a[at + 1] as bigint),
    path: a[at + 2] as Buffer,
    inode: a[at + 3] as bigint,
    nlink: Number(a[at + 4] as bigint),
    size: Number(a[at + 5] as bigint),
    mtimeNs: a[at + 6] as bigint,
    ctimeNs: a[at + 7] as bigint,
    mode: Number(a[at + 8] as bigint),
    uid: Number(a[at + 9] as bigint),
    gid: Number(a[at + 10] as bigint),
    sha256: a[at + 11] as Buffer | null,
  };
}

/**
 * Active paths matching `where` (over the file_paths view), as group members. Rows come as
 * arrays (named-property row objects were a quarter of plan's time).
 */
function members(db: DB, where: string, ...params: unknown[]): Member[] {
  const sql = `SELECT id, device_id, path, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, sha256
                 FROM file_paths WHERE ${where} AND status = 'active'`;
  return (
    stmt(db, sql)
      .safeIntegers(true)
      .raw(true)
      .all(...params) as unknown[][]
  ).map((a) => memberOf(a));
}

/** Every active path with this content on this device. */
export function groupMembers(db: DB, deviceId: number, sha256: Buffer, size: number): Member[] {
  return members(db, 'sha256 = ? AND size = ? AND device_id = ?', sha256, size, deviceId);
}

/** Every active path with this content, on any device. */
export function contentMembers(db: DB, sha256: Buffer, size: number): Member[] {
  return members(db, 'sha256 = ? AND size = ?', sha256, size);
}

/** The active paths of one inode. */
export function inodeMembers(db: DB, deviceId: number, inode: bigint): Member[] {
  return members(db, 'device_id = ? AND inode = ?', deviceId, inode);
}

export interface CrossKey {
  readonly rowId: number;
  readonly sha256: Buffer;
  readonly size: number;
  readonly devices: number;
  readonly copies: number;
}

/**
 * Fill temp.cross_groups: contents present on two or more devices. `bytes` is what deleting the
 * extra copies by hand would free: size × (devices − 1).
 */
export function prepareCrossDeviceGroups(
  db: DB,
  deviceId?: number,
  scoped = false,
): { groups: number; bytes: number } {
  db.exec(`DROP TABLE IF EXISTS temp.cross_groups;
           CREATE TEMP TABLE cross_groups (row_id INTEGER PRIMARY KEY, sha256 BLOB, size INTEGER,
             devices INTEGER, copies INTEGER);`);
  const having = deviceId === undefined ? '' : `AND sum(device_id = ${Number(deviceId)}) > 0`;
  db.prepare(
    `INSERT INTO temp.cross_groups (sha256, size, devices, copies)
     SELECT sha256, size, count(DISTINCT device_id), count(*)
       FROM (SELECT DISTINCT device_id, inode, sha256, size FROM files
              WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0 ${scopeClause(scoped)})
      GROUP BY sha256, size
     HAVING count(DISTINCT device_id) > 1 ${having}
      ORDER BY size * (count(DISTINCT device_id) - 1) DESC, sha256`,
  ).run();
  const r = db
    .prepare(
      `SELECT count(*) AS groups, coalesce(sum(size * (devices - 1)), 0) AS bytes FROM temp.cross_groups`,
    )
    .get() as { groups: number; bytes: number };
  return r;
}

export function crossGroupPage(db: DB, afterRowId: number, limit: number): CrossKey[] {
  return (
    db
      .prepare('SELECT * FROM temp.cross_groups WHERE row_id > ? ORDER BY row_id LIMIT ?')
      .all(afterRowId, limit) as {
      row_id: number;
      sha256: Buffer;
      size: number;
      devices: number;
      copies: number;
    }[]
  ).map((r) => ({
    rowId: r.row_id,
    sha256: r.sha256,
    size: r.size,
    devices: r.devices,
    copies: r.copies,
  }));
}

/**
 * Fill temp.link_only: inodes with two or more catalogued paths that are in no same-device
 * group (their content is unique, or unhashed): the already-optimal hardlinks a plan reports
 * as NOOP.
 */
export function prepareLinkOnlyInodes(db: DB, deviceId?: number, scoped = false): number {
  // The NOT EXISTS below probes same_groups once per multi-link inode: without this index that
  // was a scan of every group per inode (2.8 s of a 5 s plan on the reference tree).
  db.exec(`CREATE INDEX IF NOT EXISTS temp.same_groups_content ON same_groups(sha256, device_id, size);
           DROP TABLE IF EXISTS temp.link_only;
           CREATE TEMP TABLE link_only (row_id INTEGER PRIMARY KEY, device_id INTEGER, inode INTEGER);`);
  return db
    .prepare(
      `INSERT INTO temp.link_only (device_id, inode)
       SELECT x.device_id, x.inode
         FROM (SELECT f.device_id, f.inode, max(f.sha256) AS sha256, max(f.size) AS size FROM files f
                WHERE f.status = 'active' ${deviceFilter(deviceId, 'f.device_id')}
                      ${scopeClause(scoped, 'f.dir_id')}
                GROUP BY f.device_id, f.inode HAVING count(*) > 1) x
        WHERE NOT EXISTS (SELECT 1 FROM temp.same_groups g
                           WHERE g.device_id = x.device_id AND g.sha256 = x.sha256 AND g.size = x.size)
        ORDER BY x.device_id, x.inode`,
    )
    .run().changes;
}

export function linkOnlyPage(
  db: DB,
  afterRowId: number,
  limit: number,
): { rowId: number; deviceId: number; inode: bigint }[] {
  return (
    db
      .prepare(
        'SELECT row_id, device_id, inode FROM temp.link_only WHERE row_id > ? ORDER BY row_id LIMIT ?',
      )
      .safeIntegers(true)
      .all(afterRowId, limit) as { row_id: bigint; device_id: bigint; inode: bigint }[]
  ).map((r) => ({ rowId: Number(r.row_id), deviceId: Number(r.device_id), inode: r.inode }));
}

/** Empty files per device (never linked: linking them frees nothing and couples unrelated files). */
export function emptyFileCounts(db: DB, deviceId?: number, scoped = false): Map<number, number> {
  const rows = db
    .prepare(
      `SELECT device_id, count(*) AS n FROM files WHERE status = 'active' AND size = 0 ${deviceFilter(deviceId)}
              ${scopeClause(scoped)}
        GROUP BY device_id`,
    )
    .all() as { device_id: number; n: number }[];
  return new Map(rows.map((r) => [r.device_id, r.n]));
}

/** Hardlink statistics: paths that share an inode, and the bytes those extra links already save. */
export function hardlinkStats(
  db: DB,
  deviceId?: number,
): { sharedPaths: number; inodes: number; bytesSaved: number } {
  const r = db
    .prepare(
      `SELECT coalesce(sum(paths), 0) AS shared, count(*) AS inodes, coalesce(sum((paths - 1) * size), 0) AS saved
         FROM (SELECT count(*) AS paths, max(size) AS size FROM files
                WHERE status = 'active' ${deviceFilter(deviceId)}
                GROUP BY device_id, inode HAVING count(*) > 1)`,
    )
    .get() as { shared: number; inodes: number; saved: number };
  return { sharedPaths: r.shared, inodes: r.inodes, bytesSaved: r.saved };
}
