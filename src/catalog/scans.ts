/** The `scans` table: one row per root per `hashall scan` run. */
import type { DB } from './open.js';

export type ScanStatus = 'running' | 'completed' | 'interrupted' | 'failed';

export function startScan(db: DB, root: Buffer, now = Date.now()): number {
  const info = db
    .prepare(`INSERT INTO scans (root, started_at, status) VALUES (?, ?, 'running')`)
    .run(root, now);
  return Number(info.lastInsertRowid);
}

export function setScanRoot(db: DB, scanId: number, deviceId: number, fsPath: Buffer): void {
  db.prepare('UPDATE scans SET device_id = ?, fs_path = ? WHERE id = ?').run(
    deviceId,
    fsPath,
    scanId,
  );
}

export function finishScan(
  db: DB,
  scanId: number,
  status: ScanStatus,
  summary: unknown,
  now = Date.now(),
): void {
  db.prepare('UPDATE scans SET status = ?, finished_at = ?, summary = ? WHERE id = ?').run(
    status,
    now,
    JSON.stringify(summary),
    scanId,
  );
}

export interface LastScan {
  readonly root: Buffer;
  readonly scanId: number;
  readonly status: ScanStatus;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly deviceId: number | null;
}

/** The most recent scan of every root. */
export function lastScanPerRoot(db: DB): LastScan[] {
  const rows = db
    .prepare(
      `SELECT s.root, s.id, s.status, s.started_at, s.finished_at, s.device_id
         FROM scans s
        WHERE s.id = (SELECT max(id) FROM scans t WHERE t.root = s.root)
        ORDER BY s.root`,
    )
    .all() as {
    root: Buffer;
    id: number;
    status: ScanStatus;
    started_at: number;
    finished_at: number | null;
    device_id: number | null;
  }[];
  return rows.map((r) => ({
    root: r.root,
    scanId: r.id,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    deviceId: r.device_id,
  }));
}
