/**
 * Stored per-device usage (active paths, distinct inodes, their bytes and allocated bytes), so
 * that analyze, status and `devices` do not group every row by inode on each call.
 *
 * Triggers on `files` (migration "stored totals") mark a device dirty in `usage_dirty` in the
 * transaction that changes one of its active rows. A first scan's inserts mark their device
 * once (INSERT OR IGNORE of a key already there: no write). At every commit a device absent
 * from `usage_dirty` has exactly the stored usage a full count gives. A reader counts the dirty
 * devices live; a writer folds them (foldStoredTotals). Unlike the group totals, a dirty device
 * is counted whole: a change costs one pass over that device's rows, at the scan's end.
 */
import type { DB } from './db.js';
import { stmt } from './stmt.js';
import { usageOfRows, type DeviceUsage } from './devices.js';
import { deviceList, USAGE_OF, type UsageRow } from './usage-query.js';

const DIRTY = 'AND device_id IN (SELECT device_id FROM usage_dirty)';

/** Bring the stored usage of dirty devices up to date (inside the caller's transaction). */
export function foldUsageTotals(db: DB): number {
  const dirty = (stmt(db, 'SELECT count(*) AS n FROM usage_dirty').get() as { n: number }).n;
  if (dirty === 0) return 0;
  db.exec(`DELETE FROM usage_totals WHERE device_id IN (SELECT device_id FROM usage_dirty);
           INSERT INTO usage_totals (device_id, files, inodes, bytes, allocated) ${USAGE_OF(DIRTY)};
           DELETE FROM usage_dirty;`);
  return dirty;
}

/** The devices whose stored usage is out of date. */
export function usageDirtyDevices(db: DB): number[] {
  return (
    stmt(db, 'SELECT device_id FROM usage_dirty ORDER BY device_id').all() as {
      device_id: number;
    }[]
  ).map((r) => r.device_id);
}

/**
 * Store the usage of `devices`, counted elsewhere from exactly what this connection sees
 * (usage-worker.ts), and mark them clean (inside the caller's transaction, which must have
 * held the write lock since before that count began).
 */
export function storeCountedUsage(
  db: DB,
  devices: readonly number[],
  rows: readonly UsageRow[],
): void {
  const list = deviceList(devices);
  db.exec(`DELETE FROM usage_totals WHERE device_id IN ${list}`);
  const insert = stmt(
    db,
    'INSERT INTO usage_totals (device_id, files, inodes, bytes, allocated) VALUES (?, ?, ?, ?, ?)',
  );
  for (const r of rows) insert.run(r.device_id, r.files, r.inodes, r.bytes, r.allocated);
  db.exec(`DELETE FROM usage_dirty WHERE device_id IN ${list}`);
}

/** Active paths, distinct inodes and their bytes per device: stored, dirty devices counted. */
export function storedDeviceUsage(db: DB): Map<number, DeviceUsage> {
  const rows = stmt(
    db,
    `SELECT device_id, files, inodes, bytes, allocated FROM usage_totals
      WHERE device_id NOT IN (SELECT device_id FROM usage_dirty)
     UNION ALL
     ${USAGE_OF(DIRTY)}`,
  ).all() as UsageRow[];
  return usageOfRows(db, rows);
}
