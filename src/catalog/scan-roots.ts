/** Where earlier scans of a filesystem started (auto-execute --rescan scans them again). */
import type { DB } from './db.js';
import { stmt } from './stmt.js';

/** The roots of this device's finished scans, as paths inside the filesystem. */
export function recordedScanRoots(db: DB, deviceId: number): Buffer[] {
  return (
    stmt(
      db,
      `SELECT DISTINCT fs_path FROM scans WHERE device_id = ? AND fs_path IS NOT NULL
          AND status IN ('completed', 'interrupted', 'failed')`,
    ).all(deviceId) as { fs_path: Buffer }[]
  ).map((r) => r.fs_path);
}
