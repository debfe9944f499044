/**
 * The executor lock's rows: who executes on which device now, one row per device
 * (conductor/lock.ts decides whether a holder is stale). Two runs whose devices are disjoint
 * both proceed; one that needs a device another live run holds is refused.
 */
import type { DB } from './db.js';
import { stmt } from './stmt.js';

export interface LockHolder {
  readonly pid: number;
  readonly startTime: string;
  readonly hostname: string;
  readonly planId: number | null;
  readonly acquiredAt: number;
}

/** One device's lock and its holder. */
export interface DeviceLock {
  readonly deviceId: number;
  readonly holder: LockHolder;
}

interface RawLock {
  device_id: number;
  pid: number;
  start_time: string;
  hostname: string;
  plan_id: number | null;
  acquired_at: number;
}

function toLock(r: RawLock): DeviceLock {
  return {
    deviceId: r.device_id,
    holder: {
      pid: r.pid,
      startTime: r.start_time,
      hostname: r.hostname,
      planId: r.plan_id,
      acquiredAt: r.acquired_at,
    },
  };
}

/** Every device lock, alive or not, by device. */
export function readLocks(db: DB): DeviceLock[] {
  return (stmt(db, 'SELECT * FROM executor_device_lock ORDER BY device_id').all() as RawLock[]).map(
    toLock,
  );
}

/**
 * The holder that took a lock most recently, if any (what the plan port's `lockHolder` gives;
 * `executorLock.holders()` lists them all).
 */
export function readLock(db: DB): LockHolder | undefined {
  const r = stmt(
    db,
    'SELECT * FROM executor_device_lock ORDER BY acquired_at DESC, device_id LIMIT 1',
  ).get() as RawLock | undefined;
  return r ? toLock(r).holder : undefined;
}

export function writeLock(db: DB, deviceId: number, h: LockHolder): void {
  stmt(
    db,
    `INSERT OR REPLACE INTO executor_device_lock (device_id, pid, start_time, hostname, plan_id, acquired_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(deviceId, h.pid, h.startTime, h.hostname, h.planId, h.acquiredAt);
}

export function clearLock(db: DB, pid: number): void {
  stmt(db, 'DELETE FROM executor_device_lock WHERE pid = ?').run(pid);
}

/** Whether a lock row is this holder's own (re-taking it names another plan, no question). */
export function sameHolder(a: LockHolder, b: LockHolder): boolean {
  return a.pid === b.pid && a.hostname === b.hostname;
}

/** The devices a plan's run acts on (and so locks): its actions' targets' and sources'. */
export function planDevices(db: DB, planId: number): number[] {
  return (
    stmt(
      db,
      `SELECT device_id AS d FROM conductor_actions WHERE plan_id = ?
        UNION SELECT source_device_id FROM conductor_actions WHERE plan_id = ? ORDER BY 1`,
    ).all(planId, planId) as { d: number }[]
  ).map((r) => r.d);
}

/**
 * After recovery: plans left 'executing' are interrupted, except those another holder's lock
 * names (a run on other devices, alive; its plan is its own).
 */
export function closeInterruptedPlans(db: DB, pid: number): void {
  stmt(
    db,
    `UPDATE conductor_plans SET status = 'interrupted'
      WHERE status = 'executing'
        AND id NOT IN (SELECT plan_id FROM executor_device_lock WHERE pid != ? AND plan_id IS NOT NULL)`,
  ).run(pid);
}
