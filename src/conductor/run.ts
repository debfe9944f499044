/**
 * The conductor owns a run: one place takes the executor lock, recovers what a killed execute
 * or undo journaled, opens the run's log, runs the body, and closes the log and releases the
 * lock whatever happens. `conductor execute`, `undo` and `auto-execute` run through
 * `withExecutorRun`; a scan, which changes no file, only recovers (`recoverBeforeScan`).
 * Nothing here prints: what the user should hear goes out as a `RunEvent`.
 */
import type { Catalog } from '../catalog/port.js';
import { countOf, formatCount } from '../format.js';
import { acquireExecutorLock, liveHolder, releaseExecutorLock } from './lock.js';
import { recoverInterrupted, type RecoveryReport } from './recovery.js';
import { openLog, type RunLog } from './run-log.js';
import { recoverInterruptedUndo, type UndoRecoveryReport } from './undo-recovery.js';

/** What a run (or a scan) tells the user about the recovery it did first. */
export type RunEvent =
  | { readonly kind: 'recovered-execute'; readonly report: RecoveryReport }
  | { readonly kind: 'recovered-undo'; readonly report: UndoRecoveryReport };

export interface RunRecovery {
  readonly execute: RecoveryReport;
  readonly undo: UndoRecoveryReport;
}

export interface ExecutorRunRequest {
  readonly catalog: Catalog;
  /** The plan the lock names (0 while there is none yet, as auto-execute before it plans). */
  readonly planId: number;
  /** The log's name (`conductor-plan-7`) and its first line. */
  readonly log: { readonly name: string; readonly header: string };
  /**
   * Called after recovery and before the log is opened: a refusal here (a plan recovery
   * changed, too little space) leaves no log behind.
   */
  readonly check?: (recovery: RunRecovery) => void | Promise<void>;
  readonly onEvent?: (e: RunEvent) => void;
}

export interface ExecutorRun {
  readonly log: RunLog;
  readonly recovery: RunRecovery;
  /** Name another plan in the lock this run holds (auto-execute, once it has planned). */
  lockPlan(planId: number): Promise<void>;
}

/** The plain words of an execute's recovery (undefined when it found nothing to do). */
export function describeRecovery(r: RecoveryReport): string | undefined {
  if (r.rolledForward + r.rolledBack === 0 && r.tempLinksRemoved === 0) return undefined;
  return `Recovered an interrupted run: ${countOf(r.rolledForward, 'action')} completed, ${formatCount(r.rolledBack)} rolled back, ${countOf(r.tempLinksRemoved, 'temporary link')} removed`;
}

/** The plain words of an undo's recovery (undefined when it found nothing to do). */
export function describeUndoRecovery(r: UndoRecoveryReport): string | undefined {
  if (r.rolledForward + r.rolledBack === 0 && r.copiesRemoved === 0) return undefined;
  return `Recovered an interrupted undo: ${countOf(r.rolledForward, 'path')} restored, ${formatCount(r.rolledBack)} rolled back, ${countOf(r.copiesRemoved, 'temporary copy', 'temporary copies')} removed`;
}

type RunCatalog = Pick<Catalog, 'executorLock' | 'journal'>;

/**
 * What a killed run left to recover, when no live run holds the lock (a dry run only says so:
 * it takes no lock and changes nothing).
 */
export async function recoveryPending(
  catalog: RunCatalog,
): Promise<{ readonly execute: boolean; readonly undo: boolean }> {
  const p = await catalog.journal.pending();
  const execute = p.execute;
  const undo = p.undoJournal;
  if (!execute && !undo) return { execute, undo };
  return (await liveHolder(catalog)) ? { execute: false, undo: false } : { execute, undo };
}

const NOTHING_UNDONE: UndoRecoveryReport = {
  rolledForward: 0,
  rolledBack: 0,
  copiesRemoved: 0,
  problems: [],
};

/** Both recoveries, under the lock the caller holds: execute's first, then undo's. */
async function recoverBoth(
  catalog: Catalog,
  onEvent: ((e: RunEvent) => void) | undefined,
): Promise<RunRecovery> {
  const execute = await recoverInterrupted(catalog);
  onEvent?.({ kind: 'recovered-execute', report: execute });
  const p = await catalog.journal.pending();
  const undo =
    p.undoJournal || p.undoPlans ? await recoverInterruptedUndo(catalog) : NOTHING_UNDONE;
  onEvent?.({ kind: 'recovered-undo', report: undo });
  return { execute, undo };
}

/**
 * Lock → recover → (check) → open the log → body → close the log and release the lock. The
 * lock is released however the body ends (an error, Ctrl-C's stop, a refusal in `check`).
 */
export async function withExecutorRun<T>(
  req: ExecutorRunRequest,
  body: (run: ExecutorRun) => Promise<T>,
): Promise<T> {
  const { catalog } = req;
  await acquireExecutorLock(catalog, req.planId);
  let log: RunLog | undefined;
  try {
    const recovery = await recoverBoth(catalog, req.onEvent);
    await req.check?.(recovery);
    log = openLog({ place: catalog.runLogs, name: req.log.name });
    log.write(req.log.header);
    for (const t of [describeRecovery(recovery.execute), describeUndoRecovery(recovery.undo)])
      if (t) log.write(t);
    return await body({
      log,
      recovery,
      lockPlan: async (planId) => {
        await acquireExecutorLock(catalog, planId);
      },
    });
  } finally {
    log?.close();
    await releaseExecutorLock(catalog);
  }
}

/**
 * Before a scan: finish or roll back what a killed execute or undo journaled, so that no
 * temporary link or copy is catalogued. Left alone while a live run holds the lock (its
 * journal is its own). An event is sent for each recovery that ran.
 */
export async function recoverBeforeScan(
  catalog: Catalog,
  onEvent?: (e: RunEvent) => void,
): Promise<void> {
  const p = await catalog.journal.pending();
  const execute = p.execute;
  const undo = p.undoJournal || p.undoPlans;
  if ((!execute && !undo) || (await liveHolder(catalog))) return;
  await acquireExecutorLock(catalog, 0);
  try {
    if (execute)
      onEvent?.({ kind: 'recovered-execute', report: await recoverInterrupted(catalog) });
    if (undo) onEvent?.({ kind: 'recovered-undo', report: await recoverInterruptedUndo(catalog) });
  } finally {
    await releaseExecutorLock(catalog);
  }
}
