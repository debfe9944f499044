/**
 * The catalog's stored totals (group-totals.ts, usage-totals.ts), brought up to date by a
 * writer: at the end of a completed scan, and before a plan groups. Readers never fold; they
 * recount what is dirty.
 */
import { debugNote } from '../debug-note.js';
import { failpoint } from '../failpoint.js';
import type { DB } from './db.js';
import { dirtiness, foldGroupTotals } from './group-totals.js';
import { countUsageAside } from './usage-aside.js';
import { foldUsageTotals, storeCountedUsage, usageDirtyDevices } from './usage-totals.js';

/** Fold every dirty key and device, in the caller's unit of work or a transaction of its own. */
export function foldStoredTotals(db: DB): void {
  const fold = () => {
    foldGroupTotals(db);
    foldUsageTotals(db);
  };
  if (db.inTransaction) fold();
  else db.transaction(fold).immediate();
}

/** How a scan's fold counted the device usage. */
export type UsageFold =
  /** On a worker's connection, beside the group fold on this one. */
  | { readonly kind: 'aside' }
  /** On this connection, after the group fold: nothing to count aside, or the worker failed. */
  | { readonly kind: 'inline'; readonly why: string };

/**
 * The fold at the end of a completed scan (`finishedAt`: the finished_at it has just committed
 * for `scanId`). After a device's first scan both halves regroup and recount every row of the
 * device, one after the other on one connection: on the 1,000,000-file tree 2.5-2.9 s and
 * 1.7 s. So then the usage is counted on a second connection, on a thread of its own, at the
 * same time. The write lock is taken first (BEGIN IMMEDIATE), before that connection reads:
 * no other writer can commit until this one does, so both see exactly the rows committed
 * before it, and the count stored is the count of the rows the commit leaves.
 */
export async function foldStoredTotalsAfterScan(
  db: DB,
  finished: { readonly scanId: number; readonly finishedAt: number },
): Promise<UsageFold> {
  if (db.inTransaction || db.memory) {
    foldStoredTotals(db);
    return { kind: 'inline', why: 'no second connection' };
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    const devices = usageDirtyDevices(db);
    // Only after a first scan (a claimed device, group-totals.ts) is the group fold long
    // enough for a worker's start to pay; a rescan's folds are small.
    const aside =
      devices.length > 0 && dirtiness(db).devices.length > 0
        ? countUsageAside({ path: db.name, devices, ...finished })
        : undefined;
    foldGroupTotals(db);
    const counted = aside && (await aside);
    let fold: UsageFold;
    if (counted?.kind === 'counted') {
      storeCountedUsage(db, devices, counted.rows);
      // Test-only: killed with both halves written and not committed.
      failpoint('scan-fold-aside');
      fold = { kind: 'aside' };
    } else {
      foldUsageTotals(db);
      fold = { kind: 'inline', why: counted ? counted.why : 'not a first scan' };
      // As the native walk says why it did not load (fs/native.ts): the same figures, slower.
      if (counted) {
        debugNote(`device usage counted after the groups, not beside them (${counted.why})`);
      }
    }
    db.exec('COMMIT');
    return fold;
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
