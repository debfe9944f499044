/**
 * The catalog's stored totals (group-totals.ts, usage-totals.ts), brought up to date by a
 * writer: at the end of a completed scan, and before a plan groups. Readers never fold; they
 * recount what is dirty.
 */
import type { DB } from './open.js';
import { foldGroupTotals } from './group-totals.js';
import { foldUsageTotals } from './usage-totals.js';

/** Fold every dirty key and device, in the caller's unit of work or a transaction of its own. */
export function foldStoredTotals(db: DB): void {
  const fold = () => {
    foldGroupTotals(db);
    foldUsageTotals(db);
  };
  if (db.inTransaction) fold();
  else db.transaction(fold).immediate();
}
