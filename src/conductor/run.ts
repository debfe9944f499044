/**
 * The conductor owns a run: one place takes the executor lock, recovers what a killed execute
 * or undo journaled, opens the run's log, runs the body, and closes the log and releases the
 * lock whatever happens. `conductor execute`, `undo` and `auto-execute` run through
 * `withExecutorRun`; a scan, which changes no file, only recovers (`recoverBeforeScan`).
 * Nothing here prints: what the user should hear goes out as a `RunEvent`.
 */
import type { Catalog } from '../catalog/port.js';
import { failpointPause } from '../failpoint.js';
import { hostIdentity } from '../fs/host.js';
import { countOf, formatCount } from '../format.js';
import { acquireExecutorLock, liveLocks, releaseExecutorLock, tryExecutorLock } from './lock.js';
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
  /**
   * The devices the run acts on, which it locks (default: the plan's). Only the journal rows of
   * these devices are recovered: another device's may be a live run's on another host.
   */
  readonly devices?: readonly number[];
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

type RunCatalog = Pick<Catalog, 'executorLock' | 'journal' | 'undo' | 'deviceMounts'>;

/**
 * The devices of the journal rows a killed execute or undo left (a few batches at most) that
 * this host may recover: those it mounts, or that no host was recorded for. A row of a device
 * another host mounts is that host's: its paths name files there, and the same paths here are
 * another filesystem's (several hosts mount their own disks at one path). Its host recovers it.
 */
async function journaledDevices(
  catalog: RunCatalog,
): Promise<{ readonly execute: Set<number>; readonly undo: Set<number> }> {
  const p = await catalog.journal.pending();
  const execute = new Set<number>();
  const undo = new Set<number>();
  if (p.execute)
    for (const e of await catalog.journal.open()) if (e.action) execute.add(e.action.deviceId);
  if (p.undoJournal)
    for (const e of await catalog.undo.journal.open()) if (e.action) undo.add(e.action.deviceId);
  const all = [...new Set([...execute, ...undo])];
  if (all.length === 0) return { execute, undo };
  const placed = await catalog.deviceMounts.placement({
    machineId: hostIdentity().machineId,
    deviceIds: all,
  });
  for (const d of placed) {
    if (d.here || d.elsewhere.length === 0) continue;
    execute.delete(d.deviceId);
    undo.delete(d.deviceId);
  }
  return { execute, undo };
}

/**
 * What a killed run left to recover on devices no live run holds (a dry run only says so: it
 * takes no lock and changes nothing).
 */
export async function recoveryPending(
  catalog: RunCatalog,
): Promise<{ readonly execute: boolean; readonly undo: boolean }> {
  const devices = await journaledDevices(catalog);
  if (devices.execute.size + devices.undo.size === 0) return { execute: false, undo: false };
  const held = new Set((await liveLocks(catalog)).map((l) => l.deviceId));
  const free = (s: Set<number>) => [...s].some((d) => !held.has(d));
  return { execute: free(devices.execute), undo: free(devices.undo) };
}

const NOTHING_UNDONE: UndoRecoveryReport = {
  rolledForward: 0,
  rolledBack: 0,
  copiesRemoved: 0,
  problems: [],
};

/**
 * Plans a killed undo left 'undoing' are settled only while no other live run holds a lock: a
 * live undo on other devices is 'undoing' too, and the catalog cannot tell the two apart.
 */
async function undoPlansScope(catalog: RunCatalog): Promise<'settle' | 'leave'> {
  return (await liveLocks(catalog)).length === 0 ? 'settle' : 'leave';
}

/** Both recoveries of the devices the caller has locked: execute's first, then undo's. */
async function recoverBoth(
  catalog: Catalog,
  devices: ReadonlySet<number>,
  onEvent: ((e: RunEvent) => void) | undefined,
): Promise<RunRecovery> {
  const execute = await recoverInterrupted(catalog, { devices });
  onEvent?.({ kind: 'recovered-execute', report: execute });
  const p = await catalog.journal.pending();
  const undo =
    p.undoJournal || p.undoPlans
      ? await recoverInterruptedUndo(catalog, {
          kind: 'devices',
          devices,
          plans: await undoPlansScope(catalog),
        })
      : NOTHING_UNDONE;
  onEvent?.({ kind: 'recovered-undo', report: undo });
  return { execute, undo };
}

/**
 * The devices, besides the run's own, whose journal rows a killed run left and no live run
 * holds: the run locks and recovers them too (as an execute of another plan always has), or
 * leaves them when another run takes one meanwhile.
 */
async function alsoRecover(
  catalog: RunCatalog,
  req: { readonly planId: number; readonly own: readonly number[] },
): Promise<number[]> {
  const journaled = await journaledDevices(catalog);
  const held = new Set([...req.own, ...(await liveLocks(catalog)).map((l) => l.deviceId)]);
  const extra = [...new Set([...journaled.execute, ...journaled.undo])].filter((d) => !held.has(d));
  if (extra.length === 0) return [];
  const r = await tryExecutorLock(catalog, { planId: req.planId, devices: extra });
  return r.kind === 'acquired' ? extra : [];
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
  const own = req.devices ?? (await catalog.execution.planDevices(req.planId));
  await acquireExecutorLock(catalog, { planId: req.planId, devices: own });
  let log: RunLog | undefined;
  try {
    const devices = [...own, ...(await alsoRecover(catalog, { planId: req.planId, own }))];
    const recovery = await recoverBoth(catalog, new Set(devices), req.onEvent);
    await req.check?.(recovery);
    log = openLog({ place: catalog.runLogs, name: req.log.name });
    log.write(req.log.header);
    for (const t of [describeRecovery(recovery.execute), describeUndoRecovery(recovery.undo)])
      if (t) log.write(t);
    return await body({
      log,
      recovery,
      lockPlan: async (planId) => {
        await acquireExecutorLock(catalog, { planId, devices });
      },
    });
  } finally {
    log?.close();
    await releaseExecutorLock(catalog);
  }
}

/**
 * Before a scan: finish or roll back what a killed execute or undo journaled, so that no
 * temporary link or copy is catalogued. The devices a live run holds are left alone (their
 * journal rows are its own); the others are locked while their rows are recovered. An event is
 * sent for each recovery that ran.
 *
 * The journal and the locks are read one after the other, not at one instant, and a live run
 * on another device (or host) may start or end between the reads:
 * - one that ends between them leaves a device journaled in what we read and held by no one:
 *   we lock it and find its rows gone (it cleared them before it let go), so nothing is done;
 * - one that starts after we read the locks may hold a device we then try to lock: we read
 *   both again (it is live now, so its device is left alone) rather than fail the scan.
 * After a few such turns the recovery is left to the next run: a scan changes no file.
 */
export async function recoverBeforeScan(
  catalog: Catalog,
  onEvent?: (e: RunEvent) => void,
): Promise<void> {
  for (let turn = 0; turn < 3; turn++)
    if ((await recoverUnheld(catalog, onEvent)) !== 'raced') return;
}

async function recoverUnheld(
  catalog: Catalog,
  onEvent: ((e: RunEvent) => void) | undefined,
): Promise<'done' | 'raced'> {
  const journaled = await journaledDevices(catalog);
  const undoPlans = (await catalog.journal.pending()).undoPlans;
  if (journaled.execute.size + journaled.undo.size === 0 && !undoPlans) return 'done';
  await failpointPause('scan-recovery-journal');
  const held = new Set((await liveLocks(catalog)).map((l) => l.deviceId));
  const devices = new Set([...journaled.execute, ...journaled.undo].filter((d) => !held.has(d)));
  const execute = journaled.execute.size > 0 && [...journaled.execute].some((d) => devices.has(d));
  // An undo left 'undoing' with nothing in flight is settled when no other run is live.
  const plans = held.size === 0 ? 'settle' : 'leave';
  const undo = (undoPlans && plans === 'settle') || [...journaled.undo].some((d) => devices.has(d));
  if (!execute && !undo) return 'done';
  await failpointPause('scan-recovery-lock');
  if ((await tryExecutorLock(catalog, { planId: 0, devices: [...devices] })).kind === 'held')
    return 'raced';
  try {
    if (execute)
      onEvent?.({
        kind: 'recovered-execute',
        report: await recoverInterrupted(catalog, { devices }),
      });
    if (undo)
      onEvent?.({
        kind: 'recovered-undo',
        report: await recoverInterruptedUndo(catalog, { kind: 'devices', devices, plans }),
      });
  } finally {
    await releaseExecutorLock(catalog);
  }
  return 'done';
}
