/**
 * Read-only queries behind `conductor report`: every action of a plan, streamed, and the
 * aggregates its summary shows (per device, per group, per status). Nothing here holds a
 * plan's actions in memory: callers iterate.
 */
import type { DB } from './db.js';
import { toAction, type ActionRow, type RawAction } from './actions.js';

function* mapped(it: IterableIterator<unknown>): Generator<ActionRow, void, undefined> {
  // A generator closes the statement's iterator when the caller stops early (return/throw).
  for (const r of it) yield toAction(r as RawAction);
}

/**
 * Every action of a plan in execution order (by id: group by group). A plan's actions are
 * inserted in one transaction, so their ids form a range: the scan walks that rowid range
 * (no sort, no temporary B-tree however many actions there are) and keeps the plan's rows.
 */
export function iterateActionsById(db: DB, planId: number): Generator<ActionRow, void, undefined> {
  const range = db
    .prepare('SELECT min(id) AS lo, max(id) AS hi FROM conductor_actions WHERE plan_id = ?')
    .safeIntegers(true)
    .get(planId) as { lo: bigint | null; hi: bigint | null };
  if (range.lo === null || range.hi === null) return mapped([][Symbol.iterator]());
  const it = db
    .prepare(
      `SELECT * FROM conductor_actions WHERE id BETWEEN ? AND ? AND +plan_id = ? ORDER BY id`,
    )
    .safeIntegers(true)
    .iterate(range.lo, range.hi, planId);
  return mapped(it);
}

/** The first `limit` actions in show-plan's order: HARDLINK by bytes, then NOOP, then SKIP. */
export function iterateTopActions(
  db: DB,
  planId: number,
  limit: number,
): Generator<ActionRow, void, undefined> {
  const it = db
    .prepare(
      `SELECT * FROM conductor_actions WHERE plan_id = ?
        ORDER BY CASE action_type WHEN 'HARDLINK' THEN 0 WHEN 'NOOP' THEN 1 ELSE 2 END,
                 bytes_to_save DESC, size DESC, id
        LIMIT ?`,
    )
    .safeIntegers(true)
    .iterate(planId, limit < 0 ? -1 : limit);
  return mapped(it);
}

export interface PlanDeviceTotals {
  readonly deviceId: number;
  readonly actions: number;
  readonly hardlinks: number;
  readonly noop: number;
  readonly skip: number;
  readonly bytesSaveable: number;
}

/** Actions and savings per device (the device of the target path). */
export function planDeviceTotals(db: DB, planId: number): PlanDeviceTotals[] {
  return (
    db
      .prepare(
        `SELECT device_id, count(*) AS actions,
                sum(action_type = 'HARDLINK') AS hardlinks, sum(action_type = 'NOOP') AS noop,
                sum(action_type = 'SKIP') AS skip,
                coalesce(sum(CASE WHEN action_type = 'HARDLINK' THEN bytes_to_save END), 0) AS bytes
           FROM conductor_actions WHERE plan_id = ? GROUP BY device_id ORDER BY bytes DESC, device_id`,
      )
      .all(planId) as {
      device_id: number;
      actions: number;
      hardlinks: number;
      noop: number;
      skip: number;
      bytes: number;
    }[]
  ).map((r) => ({
    deviceId: r.device_id,
    actions: r.actions,
    hardlinks: r.hardlinks,
    noop: r.noop,
    skip: r.skip,
    bytesSaveable: r.bytes,
  }));
}

export interface PlanGroupTotals {
  readonly groupNo: number;
  readonly deviceId: number;
  readonly sha256: Buffer | null;
  readonly size: number;
  readonly actions: number;
  readonly hardlinks: number;
  readonly bytesSaveable: number;
}

/** The `limit` groups that free the most bytes (groups that free nothing are left out). */
export function planTopGroups(db: DB, planId: number, limit: number): PlanGroupTotals[] {
  return (
    db
      .prepare(
        `SELECT group_no, min(device_id) AS device_id, max(group_hash) AS sha256, max(size) AS size,
                count(*) AS actions, sum(action_type = 'HARDLINK') AS hardlinks,
                coalesce(sum(CASE WHEN action_type = 'HARDLINK' THEN bytes_to_save END), 0) AS bytes
           FROM conductor_actions WHERE plan_id = ?
          GROUP BY group_no HAVING bytes > 0
          ORDER BY bytes DESC, group_no LIMIT ?`,
      )
      .all(planId, limit) as {
      group_no: number;
      device_id: number;
      sha256: Buffer | null;
      size: number;
      actions: number;
      hardlinks: number;
      bytes: number;
    }[]
  ).map((r) => ({
    groupNo: r.group_no,
    deviceId: r.device_id,
    sha256: r.sha256,
    size: r.size,
    actions: r.actions,
    hardlinks: r.hardlinks,
    bytesSaveable: r.bytes,
  }));
}
