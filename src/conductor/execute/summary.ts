/** A run's summary and the outcome records handed to the catalog. */
import type { PlanRow } from '../../catalog/plans.js';
import type { AppliedOutcome } from '../../catalog/execution.js';
import type { ActionReport, Applied, ExecuteSummary } from './types.js';

export function emptySummary(plan: PlanRow, dryRun: boolean): ExecuteSummary {
  return {
    planId: plan.id,
    dryRun,
    executed: 0,
    wouldLink: 0,
    noop: 0,
    failed: 0,
    skipped: 0,
    bytesSaved: 0,
    planBytesSaved: 0,
    wouldSave: 0,
    status: plan.status,
    interrupted: false,
  };
}

/** What the catalog records of an applied action. */
export function toAppliedOutcome(a: Applied): AppliedOutcome {
  const { action } = a.v;
  switch (a.kind) {
    case 'cloned':
      return { kind: 'cloned', action, clone: a.clone, journalClear: a.journalClear };
    case 'executed':
      return {
        kind: 'linked',
        action,
        source: {
          nlink: Number(a.newSource.nlink),
          ctimeNs: a.newSource.ctimeNs,
          mtimeNs: a.newSource.mtimeNs,
        },
      };
    case 'failed':
      return { kind: 'failed', action, error: a.error, journalClear: a.journalClear };
  }
}

export function tally(s: ExecuteSummary, r: ActionReport): void {
  switch (r.outcome.kind) {
    case 'executed':
      s.executed++;
      break;
    case 'would-link':
      s.wouldLink++;
      s.wouldSave += r.action.bytes;
      break;
    case 'noop':
      if (r.action.type === 'SKIP') s.skipped++;
      else s.noop++;
      break;
    case 'failed':
      s.failed++;
      break;
  }
}
