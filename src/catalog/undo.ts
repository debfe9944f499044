/**
 * Catalog side of `conductor undo` and `conductor discard` (issue 12 §5): the metadata a
 * hardlink target had before execute replaced it, the undo's per-action outcomes and journal,
 * the plan's undo state, and removing a plan nobody ran.
 */
import type { BigIntStats } from 'node:fs';
import type { DB } from './db.js';
import { type PlanStatus } from './plans.js';
import { toAction, type ActionRow, type RawAction } from './actions.js';
import { stmt } from './stmt.js';

/** What a target was before execute made it a link of the kept inode. */
export interface OriginalMeta {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
}

/** Recorded with the action's intent, before anything is touched (execute). */
export function recordOriginalMeta(db: DB, actionId: number, st: BigIntStats): void {
  stmt(
    db,
    `UPDATE conductor_actions SET orig_uid = ?, orig_gid = ?, orig_mode = ?, orig_atime_ns = ?, orig_mtime_ns = ?
      WHERE id = ?`,
  ).run(st.uid, st.gid, st.mode, st.atimeNs, st.mtimeNs, actionId);
}

export type UndoActionStatus = 'undone' | 'left' | 'failed';

export interface UndoAction {
  readonly action: ActionRow;
  /** Absent for actions executed before hashall recorded it. */
  readonly orig: OriginalMeta | undefined;
  readonly undoStatus: UndoActionStatus | null;
}

/** An action's row with what undo reads of it (both backends select these columns). */
export type RawUndo = RawAction & {
  orig_uid: bigint | null;
  orig_gid: bigint | null;
  orig_mode: bigint | null;
  orig_atime_ns: bigint | null;
  orig_mtime_ns: bigint | null;
  undo_status: UndoActionStatus | null;
};

export function toUndo(r: RawUndo): UndoAction {
  const orig =
    r.orig_uid === null ||
    r.orig_gid === null ||
    r.orig_mode === null ||
    r.orig_atime_ns === null ||
    r.orig_mtime_ns === null
      ? undefined
      : {
          uid: Number(r.orig_uid),
          gid: Number(r.orig_gid),
          mode: Number(r.orig_mode),
          atimeNs: r.orig_atime_ns,
          mtimeNs: r.orig_mtime_ns,
        };
  return { action: toAction(r), orig, undoStatus: r.undo_status };
}

/** Executed HARDLINK actions not undone yet, in plan order, paged by id. */
export function undoablePage(db: DB, planId: number, afterId: number, limit: number): UndoAction[] {
  return (
    stmt(
      db,
      `SELECT * FROM conductor_actions
        WHERE plan_id = ? AND id > ? AND action_type = 'HARDLINK' AND status = 'executed'
          AND (undo_status IS NULL OR undo_status != 'undone')
        ORDER BY id LIMIT ?`,
    )
      .safeIntegers(true)
      .all(planId, afterId, limit) as RawUndo[]
  ).map(toUndo);
}

export function getUndoAction(db: DB, actionId: number): UndoAction | undefined {
  const r = stmt(db, 'SELECT * FROM conductor_actions WHERE id = ?')
    .safeIntegers(true)
    .get(actionId) as RawUndo | undefined;
  return r ? toUndo(r) : undefined;
}

export function setUndoOutcome(
  db: DB,
  actionId: number,
  status: UndoActionStatus | null,
  error: string | null,
): void {
  stmt(db, 'UPDATE conductor_actions SET undo_status = ?, undo_error = ? WHERE id = ?').run(
    status,
    error,
    actionId,
  );
}

/** Per device: executed HARDLINK actions still to undo and their sizes (the space they need). */
export function undoNeeds(
  db: DB,
  planId: number,
): { deviceId: number; actions: number; bytes: number }[] {
  return stmt(
    db,
    `SELECT device_id AS deviceId, count(*) AS actions, coalesce(sum(size), 0) AS bytes
       FROM conductor_actions
      WHERE plan_id = ? AND action_type = 'HARDLINK' AND status = 'executed'
        AND (undo_status IS NULL OR undo_status != 'undone')
      GROUP BY device_id ORDER BY device_id`,
  ).all(planId) as { deviceId: number; actions: number; bytes: number }[];
}

/** Executed HARDLINK actions whose undo is done, and those still linked. */
export function undoCounts(db: DB, planId: number): { undone: number; remaining: number } {
  return stmt(
    db,
    `SELECT coalesce(sum(undo_status IS 'undone'), 0) AS undone,
            coalesce(sum(undo_status IS NOT 'undone'), 0) AS remaining
       FROM conductor_actions WHERE plan_id = ? AND action_type = 'HARDLINK' AND status = 'executed'`,
  ).get(planId) as { undone: number; remaining: number };
}

export function setPlanUndoStatus(
  db: DB,
  planId: number,
  status: Extract<PlanStatus, 'undoing' | 'undone' | 'partially-undone'>,
): void {
  stmt(db, 'UPDATE conductor_plans SET undo_status = ? WHERE id = ?').run(status, planId);
}

/** Plans an undo left 'undoing' (it was killed): the caller holds the lock, so none runs. */
export function interruptedUndoPlans(db: DB): number[] {
  return (
    stmt(db, `SELECT id FROM conductor_plans WHERE undo_status = 'undoing' ORDER BY id`).all() as {
      id: number;
    }[]
  ).map((r) => r.id);
}

// --- undo journal ----------------------------------------------------------------------

export interface UndoJournalRow {
  readonly actionId: number;
  readonly planId: number;
  readonly sourceAbs: Buffer;
  readonly targetAbs: Buffer;
  readonly tempAbs: Buffer;
  readonly tempInode: bigint | undefined;
}

/** Committed before the copy is made. */
export function undoJournalIntent(
  db: DB,
  j: Omit<UndoJournalRow, 'tempInode'>,
  now = Date.now(),
): void {
  stmt(
    db,
    `INSERT OR REPLACE INTO conductor_undo_journal
       (action_id, plan_id, source_abs, target_abs, temp_abs, temp_inode, started_at)
     VALUES (?, ?, ?, ?, ?, NULL, ?)`,
  ).run(j.actionId, j.planId, j.sourceAbs, j.targetAbs, j.tempAbs, now);
}

/** Committed before the rename: recovery tells our copy from anything else by this inode. */
export function undoJournalTempInode(db: DB, actionId: number, inode: bigint): void {
  stmt(db, 'UPDATE conductor_undo_journal SET temp_inode = ? WHERE action_id = ?').run(
    BigInt.asIntN(64, inode),
    actionId,
  );
}

export function undoJournalDone(db: DB, actionId: number): void {
  stmt(db, 'DELETE FROM conductor_undo_journal WHERE action_id = ?').run(actionId);
}

export function openUndoJournal(db: DB): UndoJournalRow[] {
  return (
    stmt(db, 'SELECT * FROM conductor_undo_journal ORDER BY action_id')
      .safeIntegers(true)
      .all() as {
      action_id: bigint;
      plan_id: bigint;
      source_abs: Buffer;
      target_abs: Buffer;
      temp_abs: Buffer;
      temp_inode: bigint | null;
    }[]
  ).map((r) => ({
    actionId: Number(r.action_id),
    planId: Number(r.plan_id),
    sourceAbs: r.source_abs,
    targetAbs: r.target_abs,
    tempAbs: r.temp_abs,
    tempInode: r.temp_inode ?? undefined,
  }));
}

// --- discard ---------------------------------------------------------------------------

/**
 * Delete a plan and its actions (cascade), only while it is still pending; returns the status
 * that forbade it otherwise. One transaction: an execute that starts meanwhile either finds the
 * plan gone or has already marked it executing.
 */
export function deletePendingPlan(
  db: DB,
  planId: number,
):
  { kind: 'deleted'; actions: number } | { kind: 'refused'; status: string } | { kind: 'missing' } {
  return db
    .transaction(() => {
      const r = stmt(db, 'SELECT status, undo_status FROM conductor_plans WHERE id = ?').get(
        planId,
      ) as { status: string; undo_status: string | null } | undefined;
      if (!r) return { kind: 'missing' as const };
      if (r.status !== 'pending' || r.undo_status !== null)
        return { kind: 'refused' as const, status: r.undo_status ?? r.status };
      const n = (
        stmt(db, 'SELECT count(*) AS n FROM conductor_actions WHERE plan_id = ?').get(planId) as {
          n: number;
        }
      ).n;
      stmt(db, 'DELETE FROM conductor_plans WHERE id = ?').run(planId);
      return { kind: 'deleted' as const, actions: n };
    })
    .immediate();
}
