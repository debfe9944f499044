/**
 * Which new files of a listing may be moves: their inode already has a row on the device.
 * Asked once per directory listing (never once per file through the caller), so that a
 * backend across a network pays one round trip per directory.
 */
import type { DB } from './db.js';
import { stmt } from './stmt.js';

/** true when the device has any file row (asked before a scan inserts the device's first row). */
export function deviceHasFiles(db: DB, deviceId: number): boolean {
  return stmt(db, 'SELECT 1 FROM files WHERE device_id = ? LIMIT 1').get(deviceId) !== undefined;
}

/** The inodes among `inodes` that some row of the device holds. */
export function knownInodes(db: DB, deviceId: number, inodes: readonly bigint[]): Set<bigint> {
  const known = new Set<bigint>();
  if (inodes.length === 0) return known;
  // Through files_inode, the only index on (device_id, inode), without naming it: a first scan
  // into an empty catalog defers it (deferred-indexes.ts), and a probe while another process's
  // first scan has it dropped must still answer (a slow table scan), not fail.
  const q = stmt(db, 'SELECT 1 FROM files WHERE device_id = ? AND inode = ? LIMIT 1');
  // In-process SQLite: one indexed probe per inode is cheapest; a server backend would send
  // the list at once (inode = ANY($2)).
  for (const inode of inodes) if (q.get(deviceId, inode) !== undefined) known.add(inode);
  return known;
}
