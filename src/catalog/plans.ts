/**
 * Plans (DESIGN §2, §4). Actions, the journal, the executor lock and the rows after a
 * replacement have files of their own (actions.ts, journal.ts, executor-lock.ts,
 * replacement.ts).
 */
import type { DB } from './db.js';
import type { FiltersJson } from './plan-types.js';
import { stmt } from './stmt.js';

export type PlanStatus =
  | 'pending'
  | 'executing'
  | 'executed'
  | 'partial'
  | 'interrupted'
  // After `conductor undo` (stored in undo_status; see catalog/undo.ts).
  | 'undoing'
  | 'undone'
  | 'partially-undone';

export interface PlanOptions {
  readonly deviceId: number | null;
  readonly deviceAlias: string | null;
  readonly sameDevice: boolean;
  readonly crossDevice: boolean;
  /** The keep rules, comma-separated (one rule in plans made before keep chains). */
  readonly keep: string;
  /** The keep rules in order (absent in older plans). */
  readonly keep_rules?: string[];
  /** The filters the plan was made with (absent in older plans: none). */
  readonly filters?: FiltersJson;
  /** How duplicates are replaced (absent in plans made before reflink mode: hardlink). */
  readonly mode?: 'hardlink' | 'reflink';
  /** Reflink plans: filesystems where no clone is possible, so nothing was planned there. */
  readonly reflink_unsupported?: { device: string; fs_type: string; reason: string }[];
}

export interface PlanRow {
  readonly id: number;
  readonly name: string;
  readonly status: PlanStatus;
  readonly createdAt: number;
  readonly executedAt: number | null;
  readonly options: PlanOptions;
  readonly opportunities: number;
  readonly bytesSaveable: number;
  readonly pendingGroups: number;
}

interface RawPlan {
  id: number;
  name: string;
  status: PlanStatus;
  created_at: number;
  executed_at: number | null;
  options: string;
  total_opportunities: number;
  total_bytes_saveable: number;
  pending_groups: number;
  /** Set by `conductor undo` (NULL before it, and in catalogs made before undo). */
  undo_status?: PlanStatus | null;
}

function toPlan(r: RawPlan): PlanRow {
  return {
    id: r.id,
    name: r.name,
    status: r.undo_status ?? r.status,
    createdAt: r.created_at,
    executedAt: r.executed_at,
    options: JSON.parse(r.options) as PlanOptions,
    opportunities: r.total_opportunities,
    bytesSaveable: r.total_bytes_saveable,
    pendingGroups: r.pending_groups,
  };
}

export function insertPlan(db: DB, name: string, options: PlanOptions, now = Date.now()): number {
  return Number(
    db
      .prepare(
        `INSERT INTO conductor_plans (name, status, created_at, options, total_opportunities, total_bytes_saveable)
         VALUES (?, 'pending', ?, ?, 0, 0)`,
      )
      .run(name, now, JSON.stringify(options)).lastInsertRowid,
  );
}

export function finalizePlanTotals(db: DB, planId: number, pendingGroups: number): void {
  stmt(
    db,
    `UPDATE conductor_plans SET
        total_opportunities = (SELECT count(*) FROM conductor_actions
                                WHERE plan_id = @plan AND action_type = 'HARDLINK' AND bytes_to_save > 0),
        total_bytes_saveable = (SELECT coalesce(sum(bytes_to_save), 0) FROM conductor_actions
                                 WHERE plan_id = @plan AND action_type = 'HARDLINK'),
        pending_groups = @pending
      WHERE id = @plan`,
  ).run({ plan: planId, pending: pendingGroups });
}

export function getPlan(db: DB, id: number): PlanRow | undefined {
  const r = stmt(db, 'SELECT * FROM conductor_plans WHERE id = ?').get(id) as RawPlan | undefined;
  return r ? toPlan(r) : undefined;
}

export function listPlans(db: DB): PlanRow[] {
  return (stmt(db, 'SELECT * FROM conductor_plans ORDER BY id').all() as RawPlan[]).map(toPlan);
}

export function setPlanStatus(db: DB, id: number, status: PlanStatus, executedAt?: number): void {
  if (executedAt === undefined)
    stmt(db, 'UPDATE conductor_plans SET status = ? WHERE id = ?').run(status, id);
  else
    stmt(db, 'UPDATE conductor_plans SET status = ?, executed_at = ? WHERE id = ?').run(
      status,
      executedAt,
      id,
    );
}

/**
 * Plans left 'executing' by a run that was killed are interrupted (run after recovery has
 * settled their journal rows, under the executor lock).
 */
export function markExecutingInterrupted(db: DB): void {
  stmt(db, `UPDATE conductor_plans SET status = 'interrupted' WHERE status = 'executing'`).run();
}

/** A reflink plan's options, once planning knows where no clone is possible. */
export function setReflinkOptions(
  db: DB,
  planId: number,
  unsupported: readonly { device: string; fs_type: string; reason: string }[],
): void {
  const row = stmt(db, 'SELECT options FROM conductor_plans WHERE id = ?').get(planId) as {
    options: string;
  };
  const options = JSON.parse(row.options) as Record<string, unknown>;
  options.mode = 'reflink';
  options.reflink_unsupported = unsupported;
  stmt(db, 'UPDATE conductor_plans SET options = ? WHERE id = ?').run(
    JSON.stringify(options),
    planId,
  );
}
