/** The execution journal: an intent per action in flight, so a killed run can be recovered. */
import type { DB } from './db.js';
import { stmt } from './stmt.js';

export interface JournalRow {
  readonly actionId: number;
  readonly planId: number;
  readonly sourceAbs: Buffer;
  readonly targetAbs: Buffer;
  readonly tempAbs: Buffer;
}

export function journalIntent(db: DB, j: JournalRow, now = Date.now()): void {
  stmt(
    db,
    `INSERT OR REPLACE INTO conductor_journal (action_id, plan_id, source_abs, target_abs, temp_abs, started_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(j.actionId, j.planId, j.sourceAbs, j.targetAbs, j.tempAbs, now);
}

export function journalDone(db: DB, actionId: number): void {
  stmt(db, 'DELETE FROM conductor_journal WHERE action_id = ?').run(actionId);
}

export function openJournal(db: DB): JournalRow[] {
  return (
    stmt(db, 'SELECT * FROM conductor_journal ORDER BY action_id').all() as {
      action_id: number;
      plan_id: number;
      source_abs: Buffer;
      target_abs: Buffer;
      temp_abs: Buffer;
    }[]
  ).map((r) => ({
    actionId: r.action_id,
    planId: r.plan_id,
    sourceAbs: r.source_abs,
    targetAbs: r.target_abs,
    tempAbs: r.temp_abs,
  }));
}
