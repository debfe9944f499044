/**
 * Stored same-device group totals, so that analyze does not regroup an unchanged catalog.
 *
 * `group_totals` holds one row per same-device group (device, sha256, size with two or more
 * inodes) with the figures prepareSameDeviceGroups lists. Triggers on `files` (migration
 * "group totals") record in `group_dirty` every key whose rows changed, in the same transaction
 * as the change, so at every commit: a key absent from `group_dirty` has exactly the totals a
 * full grouping would give it. A reader (analyze opens the catalog read-only) takes the stored
 * rows of clean keys and regroups only the dirty keys; a writer folds the dirty keys into the
 * stored rows (foldStoredTotals: at the end of a completed scan, and before a plan groups).
 * A writer killed before it folds leaves dirty keys behind: still exact, only slower to read.
 *
 * A device listed in `group_dirty_devices` has every key dirty, marked or not: readers regroup
 * all of its keys and a fold rebuilds them. A first scan lists its device there rather than
 * marking each key (claimDevice below; on PostgreSQL pg/dirty-devices.ts, whose rules are
 * stricter because its writers run at once), and the triggers mark no key of a listed device.
 */
import type { DB } from './db.js';
import { stmt } from './stmt.js';
import { deviceList } from './usage-query.js';

/**
 * Claim a device whose first scan this is (SQLite; inside the transaction that writes its first
 * rows, or before it): from here on the triggers mark none of its keys, and readers regroup
 * the whole device until a fold rebuilds it and removes the claim. One writer runs at a time,
 * so a fold sees every row written under the claim; a scan whose claim a fold removed (another
 * process's plan, say) claims again with its next listing. Marking a key per hashed row was a
 * random insert into group_dirty each: on the reference tree 0.55 s of a `scan --hash all`
 * (bench/NOTES.md).
 */
export function claimDevice(db: DB, deviceId: number): void {
  stmt(db, 'INSERT OR IGNORE INTO group_dirty_devices (device_id) VALUES (?)').run(deviceId);
}

/** How a grouping was obtained (analyze --json: same_device.source). */
export type GroupingSource =
  /** The stored totals: no row changed since they were last brought up to date. */
  | { readonly kind: 'cached' }
  /**
   * The stored totals, with the keys whose rows changed since regrouped; `devices`, when
   * present, devices whose every key was regrouped (a first scan not yet folded).
   */
  | { readonly kind: 'updated'; readonly keys: number; readonly devices?: number }
  /** Every row grouped (a scope, or a backend without stored totals). */
  | { readonly kind: 'regrouped' };

/** The rows that take part in a group: the triggers' WHEN clauses say the same. */
const COUNTED = `f.status = 'active' AND f.sha256 IS NOT NULL AND f.size > 0`;

/**
 * Per-key totals over `source` (rows aliased `f`). Same figures as prepareSameDeviceGroups:
 * inodes, paths, inodes pinned by links the catalog does not know, distinct (mode, owner,
 * group) classes, and what keeping a pinned inode (else any) frees.
 */
function totalsOver(source: string, where = ''): string {
  return `SELECT device_id, sha256, size, count(*) AS inodes, sum(paths) AS paths,
                 sum(nlink > paths) AS pinned, count(DISTINCT class) AS classes,
                 (count(*) - max(sum(nlink > paths), 1)) * size AS saveable
            FROM (SELECT f.device_id, f.sha256, f.size, f.inode, max(f.nlink) AS nlink,
                         count(*) AS paths, max(f.mode) || ':' || max(f.uid) || ':' || max(f.gid) AS class
                    FROM ${source}
                   WHERE ${COUNTED} ${where}
                   GROUP BY f.sha256, f.device_id, f.size, f.inode)
           GROUP BY sha256, device_id, size
          HAVING count(*) > 1`;
}

/**
 * Every key with two or more inodes. Most hashed rows are alone in their key (hashed because
 * another file had their size), so the keys are found first from the index alone (it covers
 * sha256, device, size and inode, and its WHERE is the rows' status and sha256), and only
 * their rows are read from the table for nlink, mode, uid and gid: on the reference tree 0.6×
 * the CPU of grouping every hashed row (a first scan folds every key; bench/NOTES.md).
 */
function allKeys(devices: readonly number[] | 'every device'): string {
  const only = devices === 'every device' ? '' : `AND device_id IN ${deviceList(devices)}`;
  return totalsOver(
    `(SELECT sha256, device_id, size FROM files INDEXED BY files_hashed
       WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0 ${only}
       GROUP BY sha256, device_id, size
      HAVING min(inode) < max(inode)) k
     JOIN files f INDEXED BY files_hashed
       ON f.sha256 = k.sha256 AND f.device_id = k.device_id AND f.size = k.size`,
  );
}

/** The rows of the dirty keys only, each key found through the same index. */
const DIRTY_KEYS = totalsOver(
  `group_dirty d JOIN files f INDEXED BY files_hashed
      ON f.sha256 = d.sha256 AND f.device_id = d.device_id AND f.size = d.size`,
);

const COLUMNS = 'device_id, sha256, size, inodes, paths, pinned, classes, saveable';

/** Rebuild every stored total (large folds). */
const REBUILD_GROUP_TOTALS = `DELETE FROM group_totals;
  INSERT INTO group_totals (${COLUMNS}) ${allKeys('every device')};
  DELETE FROM group_dirty;
  DELETE FROM group_dirty_devices;`;

/**
 * Above this share of the stored groups, a fold regroups everything: reading every hashed row
 * in index order costs less than probing the index once per dirty key (a first scan dirties
 * every key).
 */
const FULL_REBUILD_SHARE = 0.25;

/** What is dirty in the stored totals: keys one by one, and devices whose every key is. */
export interface Dirtiness {
  readonly keys: number;
  readonly devices: readonly number[];
}

export function dirtiness(db: DB): Dirtiness {
  const keys = (stmt(db, 'SELECT count(*) AS n FROM group_dirty').get() as { n: number }).n;
  const devices = (
    stmt(db, 'SELECT device_id FROM group_dirty_devices ORDER BY device_id').all() as {
      device_id: number;
    }[]
  ).map((r) => r.device_id);
  return { keys, devices };
}

const isClean = (d: Dirtiness): boolean => d.keys === 0 && d.devices.length === 0;

/** How a grouping read with storedTotalsSelect(d) was obtained. */
export const groupingSourceOf = (d: Dirtiness): GroupingSource =>
  isClean(d)
    ? { kind: 'cached' }
    : d.devices.length === 0
      ? { kind: 'updated', keys: d.keys }
      : { kind: 'updated', keys: d.keys, devices: d.devices.length };

/**
 * Bring the stored totals up to date with the rows (a writer only: inside the caller's unit of
 * work, or one transaction of its own). Returns how many dirty keys were folded.
 */
export function foldGroupTotals(db: DB): number {
  const fold = (): number => {
    const d = dirtiness(db);
    if (d.devices.length > 0) {
      const devices = deviceList(d.devices);
      db.exec(`DELETE FROM group_totals WHERE device_id IN ${devices};
               INSERT INTO group_totals (${COLUMNS}) ${allKeys(d.devices)};
               DELETE FROM group_dirty WHERE device_id IN ${devices};
               DELETE FROM group_dirty_devices WHERE device_id IN ${devices};`);
    }
    const dirty = d.devices.length > 0 ? dirtiness(db).keys : d.keys;
    if (dirty === 0) return 0;
    const stored = (stmt(db, 'SELECT count(*) AS n FROM group_totals').get() as { n: number }).n;
    if (dirty > FULL_REBUILD_SHARE * stored) {
      db.exec(REBUILD_GROUP_TOTALS);
      return dirty;
    }
    db.exec(`DELETE FROM group_totals
              WHERE (device_id, sha256, size) IN (SELECT device_id, sha256, size FROM group_dirty);
             INSERT INTO group_totals (${COLUMNS}) ${DIRTY_KEYS};
             DELETE FROM group_dirty;`);
    return dirty;
  };
  return db.inTransaction ? fold() : db.transaction(fold).immediate();
}

/**
 * Fill temp.same_groups (the table prepareSameDeviceGroups fills, same order) from the stored
 * totals: clean keys as stored, dirty keys regrouped from their rows. Writes nothing: a writer
 * folds before (prepareSameDeviceGroups), a reader never does.
 */
export function fillSameGroupsFromTotals(db: DB, deviceId: number | undefined): GroupingSource {
  const d = dirtiness(db);
  const device = deviceId === undefined ? '' : `AND device_id = ${Number(deviceId)}`;
  db.prepare(
    `INSERT INTO temp.same_groups (${COLUMNS})
     SELECT ${COLUMNS} FROM (${storedTotalsSelect(d, device)})
      ORDER BY saveable DESC, device_id, sha256`,
  ).run();
  return groupingSourceOf(d);
}

/**
 * Every key's totals (device_id, sha256, size, inodes, paths, pinned, classes, saveable) in
 * one SELECT: clean keys as stored, dirty keys regrouped from their rows, and every key of a
 * dirty device; `where` (`AND …` on those columns) applies to each. Writes nothing.
 */
export function storedTotalsSelect(d: Dirtiness, where: string): string {
  if (isClean(d)) return `SELECT ${COLUMNS} FROM group_totals WHERE 1 ${where}`;
  const notWhole = d.devices.length === 0 ? '' : `AND device_id NOT IN ${deviceList(d.devices)}`;
  const parts = [
    `SELECT ${COLUMNS} FROM group_totals t
      WHERE NOT EXISTS (SELECT 1 FROM group_dirty d WHERE d.device_id = t.device_id
                          AND d.sha256 = t.sha256 AND d.size = t.size) ${notWhole} ${where}`,
  ];
  if (d.keys > 0) parts.push(`SELECT ${COLUMNS} FROM (${DIRTY_KEYS}) WHERE 1 ${notWhole} ${where}`);
  if (d.devices.length > 0)
    parts.push(`SELECT ${COLUMNS} FROM (${allKeys(d.devices)}) WHERE 1 ${where}`);
  return parts.join('\n UNION ALL\n');
}
