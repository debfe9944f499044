/**
 * Targets whose visible metadata a hardlink plan changes (issue 12 §4): a target path that
 * becomes a link of the kept inode shows the kept inode's mtime, owner and mode. Owner, group
 * and mode differences are never linked (they are SKIP actions), so the mtime is what changes.
 * A reflink clone keeps the target's own metadata: a reflink plan changes none.
 */
import { replaceMode } from './action-decode.js';
import type { DB } from './db.js';
import { getPlan } from './plans.js';
import { stmt } from './stmt.js';

/** HARDLINK actions of a plan whose target will show another mtime once linked. */
export function countMetadataChanges(db: DB, planId: number): number {
  const r = stmt(
    db,
    `SELECT count(*) AS n FROM conductor_actions
      WHERE plan_id = ? AND action_type = 'HARDLINK' AND source_mtime_ns != target_mtime_ns`,
  ).get(planId) as { n: number };
  return r.n;
}

/** Targets of a plan that will show another mtime once replaced (none in a reflink plan). */
export function planMetadataChangeCount(db: DB, planId: number): number {
  const plan = getPlan(db, planId);
  return plan && replaceMode(plan) === 'hardlink' ? countMetadataChanges(db, planId) : 0;
}
