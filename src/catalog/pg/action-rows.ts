/**
 * Plan and action rows as PostgreSQL gives them (int8 as text), made into the catalog's typed
 * rows with the same conversions as SQLite's (../actions.ts `toAction`, ../plans.ts).
 */
import { toAction, type ActionRow, type RawAction } from '../actions.js';
import type { PlanOptions, PlanRow, PlanStatus } from '../plans.js';

/** The int8 columns of conductor_actions that `toAction` takes as BigInts. */
const INT8_COLUMNS = [
  'id',
  'plan_id',
  'group_no',
  'device_id',
  'size',
  'source_device_id',
  'source_inode',
  'source_mtime_ns',
  'source_ctime_ns',
  'target_inode',
  'target_mtime_ns',
  'target_ctime_ns',
  'target_nlink',
  'bytes_to_save',
  'target_file_id',
] as const;

/** The columns an ActionRow is made of, as a SELECT list (alias-qualified when `a` is given). */
export function actionColumns(a = ''): string {
  const p = a ? `${a}.` : '';
  return [
    ...INT8_COLUMNS,
    'action_type',
    'group_hash',
    'source_path',
    'target_path',
    'keep_rule',
    'reason',
    'status',
    'error',
    'undo_status',
  ]
    .map((c) => `${p}${c}`)
    .join(', ');
}

export function pgToAction(r: Record<string, unknown>): ActionRow {
  const raw: Record<string, unknown> = { ...r };
  for (const c of INT8_COLUMNS) {
    const v = r[c];
    raw[c] = v === null || v === undefined ? null : BigInt(v as string);
  }
  return toAction(raw as unknown as RawAction);
}

/** A plan's row; int8 columns as the driver gives them (a string), or as exactRows does (a bigint). */
type Int8 = string | bigint;
export interface PgRawPlan {
  id: Int8;
  name: string;
  status: PlanStatus;
  created_at: Int8;
  executed_at: Int8 | null;
  options: string;
  total_opportunities: Int8;
  total_bytes_saveable: Int8;
  pending_groups: Int8;
  undo_status: PlanStatus | null;
}

export function pgToPlan(r: PgRawPlan): PlanRow {
  return {
    id: Number(r.id),
    name: r.name,
    status: r.undo_status ?? r.status,
    createdAt: Number(r.created_at),
    executedAt: r.executed_at === null ? null : Number(r.executed_at),
    options: JSON.parse(r.options) as PlanOptions,
    opportunities: Number(r.total_opportunities),
    bytesSaveable: Number(r.total_bytes_saveable),
    pendingGroups: Number(r.pending_groups),
  };
}
