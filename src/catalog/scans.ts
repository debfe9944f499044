/** The `scans` table: one row per root per `hashall scan` run. */
import type { DB } from './db.js';
import type { HostSighting } from './host-port.js';
import { registerHost } from './hosts.js';

export type ScanStatus = 'running' | 'completed' | 'interrupted' | 'failed';

export function startScan(
  db: DB,
  root: Buffer,
  owner: { pid: number; startTime: string; host?: HostSighting | undefined },
  now = Date.now(),
): number {
  const info = db
    .prepare(
      `INSERT INTO scans (root, started_at, status, pid, pid_start_time) VALUES (?, ?, 'running', ?, ?)`,
    )
    .run(root, now, owner.pid, owner.startTime);
  const id = Number(info.lastInsertRowid);
  if (owner.host) {
    const host = registerHost(db, owner.host, now);
    db.prepare('INSERT INTO scan_hosts (scan_id, host_id) VALUES (?, ?)').run(id, host.id);
  }
  return id;
}

export interface RunningScan {
  readonly id: number;
  readonly root: Buffer;
  readonly startedAt: number;
  readonly pid: number | null;
  readonly pidStartTime: string | null;
  /** The machine id of the host running it (null: recorded before hosts). */
  readonly machineId: string | null;
}

export function runningScans(db: DB): RunningScan[] {
  return (
    db
      .prepare(
        `SELECT s.id, s.root, s.started_at, s.pid, s.pid_start_time, h.machine_id
           FROM scans s LEFT JOIN scan_hosts sh ON sh.scan_id = s.id LEFT JOIN hosts h ON h.id = sh.host_id
          WHERE s.status = 'running'`,
      )
      .all() as {
      id: number;
      root: Buffer;
      started_at: number;
      pid: number | null;
      pid_start_time: string | null;
      machine_id: string | null;
    }[]
  ).map((r) => ({
    id: r.id,
    root: r.root,
    startedAt: r.started_at,
    pid: r.pid,
    pidStartTime: r.pid_start_time,
    machineId: r.machine_id,
  }));
}

export function markScanInterrupted(db: DB, id: number): void {
  db.prepare(`UPDATE scans SET status = 'interrupted' WHERE id = ? AND status = 'running'`).run(id);
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
  /** The host that ran it (null: a scan from before hosts); see last-scans.ts. */
  readonly host?: { readonly machineId: string; readonly hostname: string } | null;
}
