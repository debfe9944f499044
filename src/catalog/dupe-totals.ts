/**
 * The dupes listing from the stored group totals (group-totals.ts), on SQLite: a same-device
 * listing whose filter applies to whole keys — a device, size bounds: every row of a key has
 * its device and size — lists the stored groups (files: the key's inodes; paths: its paths),
 * clean keys as stored and dirty keys regrouped, without reading every hashed row. mtime
 * bounds and scopes keep only some rows of a key, and cross-device groups span keys: those
 * listings group the rows (dupes.ts). PostgreSQL does the same (pg/query-dupes.ts).
 */
import type { DB } from './db.js';
import type { DupeRowFilter } from './dupe-filter.js';
import { dirtiness, storedTotalsSelect } from './group-totals.js';

export const dupesFromStoredTotals = (f: DupeRowFilter): boolean =>
  !f.crossDevice && !f.scoped && f.mtimeSince === undefined && f.mtimeBefore === undefined;

/** Fill temp.dupe_groups (created by the caller) in listing order; returns the count. */
export function prepareStoredDupeGroups(db: DB, f: DupeRowFilter): number {
  const where = [
    f.deviceId === undefined ? '' : `AND device_id = ${Number(f.deviceId)}`,
    f.minSize === undefined ? '' : `AND size >= ${Number(f.minSize)}`,
    f.maxSize === undefined ? '' : `AND size <= ${Number(f.maxSize)}`,
  ].join(' ');
  return db
    .prepare(
      `INSERT INTO temp.dupe_groups (device_id, sha256, size, files, paths)
       SELECT device_id, sha256, size, inodes, paths
         FROM (${storedTotalsSelect(dirtiness(db), where)})
        ORDER BY (inodes - 1) * size DESC, sha256, device_id`,
    )
    .run().changes;
}
