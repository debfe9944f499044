/** The executor lock's row: who runs a plan now (conductor/lock.ts decides if it is stale). */
import type { DB } from './open.js';
import { stmt } from './stmt.js';

export interface LockHolder {
  readonly pid: number;
  readonly startTime: string;
  readonly hostname: string;
  readonly planId: number | null;
  readonly acquiredAt: number;
}

export function readLock(db: DB): LockHolder | undefined {
  const r = stmt(db, 'SELECT * FROM executor_lock WHERE id = 1').get() as
    | {
        pid: number;
        start_time: string;
        hostname: string;
        plan_id: number | null;
        acquired_at: number;
      }
    | undefined;
  return r
    ? {
        pid: r.pid,
        startTime: r.start_time,
        hostname: r.hostname,
        planId: r.plan_id,
        acquiredAt: r.acquired_at,
      }
    : undefined;
}

export function writeLock(db: DB, h: LockHolder): void {
  stmt(
    db,
    `INSERT OR REPLACE INTO executor_lock (id, pid, start_time, hostname, plan_id, acquired_at) VALUES (1, ?, ?, ?, ?, ?)`,
  ).run(h.pid, h.startTime, h.hostname, h.planId, h.acquiredAt);
}

export function clearLock(db: DB, pid: number): void {
  stmt(db, 'DELETE FROM executor_lock WHERE id = 1 AND pid = ?').run(pid);
}
