/**
 * The catalog as an executor run sees it: actions to carry out, the execution journal, the executor
 * lock, replacement records, recovery. Operations take a batch (a page of actions, a batch of
 * intents or outcomes, every open journal row), never one round trip per file, with one
 * exception the crash-safety design requires: a reflink's clone inode is on record, committed,
 * before its rename (see `journal.cloneInode`).
 *
 * Every operation that must be atomic is atomic here (one transaction inside the catalog): the
 * lock's read-check-write, a batch's intents, a batch of outcomes with the rows they change, the
 * settling of one journaled action by recovery.
 */
import { type PlanAction, type ReplaceMode, replaceMode } from './action-decode.js';
import type { DB } from './db.js';
import { listDevices, type DeviceRow } from './devices.js';
import {
  actionCounts,
  bytesFreed,
  countActions,
  getAction,
  planActionPage,
  type ActionRow,
} from './actions.js';
import { getPlan, setPlanStatus, type PlanRow, type PlanStatus } from './plans.js';
import {
  clearLock,
  closeInterruptedPlans,
  planDevices,
  readLocks,
  sameHolder,
  writeLock,
  type DeviceLock,
  type LockHolder,
} from './executor-lock.js';
import { openJournal, type JournalRow } from './journal.js';
import {
  journalIntents,
  recordOutcomes,
  recordRecovery,
  recordVerdicts,
  type AppliedOutcome,
  type InodeChange,
  type Intent,
  type RecoveryDecision,
  type Verdict,
} from './execution.js';
import { bytesShared, catalogInode, journalCloneInode, journaledCloneInode } from './clones.js';
import { ownCtimes } from './replacement.js';
import type { WalCheckpointer } from './checkpointer.js';
import { recordedScanRoots } from './scan-roots.js';
import { interruptedUndoPlans, openUndoJournal } from './undo.js';

export type { DeviceLock, LockHolder } from './executor-lock.js';
export type { JournalRow } from './journal.js';
export type {
  AppliedOutcome,
  InodeChange,
  Intent,
  RecoveryDecision,
  Verdict,
} from './execution.js';

/** What `executorLock.acquire` found: the devices are ours now, or a live holder keeps one. */
export type LockAcquisition =
  /** Ours; `replaced` are the locks of holders that were gone (killed, pid reused, connection lost). */
  | { readonly kind: 'acquired'; readonly replaced: readonly DeviceLock[] }
  /** Nothing taken: this device is held by a live holder. */
  | { readonly kind: 'held'; readonly lock: DeviceLock };

export interface ExecutorLockOps {
  /**
   * Take the lock of every device in `devices` for `holder`, all or none, in one transaction
   * (two takers serialise on it), unless another process holds one of them and `alive` says
   * that process is still running. `alive` is the caller's test (SQLite cannot tell whether a
   * pid is alive); it is called synchronously inside the transaction, once per other holder.
   * PostgreSQL does not need it: a session advisory lock per device dies with its holder's
   * connection. Re-taking our own devices names another plan. A wait for another taker that
   * exceeds the catalog's lock timeout is refused with a `UserError` naming the holders.
   */
  acquire(req: {
    readonly holder: LockHolder;
    readonly devices: readonly number[];
    readonly alive: (h: LockHolder) => boolean;
  }): Promise<LockAcquisition>;
  /** Release every device lock this pid holds. */
  release(pid: number): Promise<void>;
  /**
   * Who holds which device. SQLite: every row, alive or not (the caller asks `alive`);
   * PostgreSQL: the rows whose holder's connection still holds the device.
   */
  holders(): Promise<readonly DeviceLock[]>;
}

/** A journal row with what recovery needs to decide it, read in the same pass. */
export interface OpenJournalEntry {
  readonly journal: JournalRow;
  /** The journaled action (undefined: its plan was deleted meanwhile). */
  readonly action: ActionRow | undefined;
  /** How its plan replaces targets (a deleted plan: hardlink). */
  readonly mode: ReplaceMode;
  /** The clone inode journaled before a reflink's rename, if it got that far. */
  readonly cloneInode: bigint | undefined;
}

export interface OutcomeBatch {
  readonly planId: number;
  readonly outcomes: readonly AppliedOutcome[];
  /** Inodes our links, renames and unlinks changed since the last batch. */
  readonly inodes: readonly InodeChange[];
}

export interface RecoveryRecord {
  readonly actionId: number;
  readonly planId: number;
  readonly decision: RecoveryDecision;
  readonly inodes: readonly InodeChange[];
}

export interface JournalOps {
  /**
   * Journal a batch of verified actions' intents (and, for undo, their targets' metadata) in
   * one transaction, committed when the promise resolves: before anything is touched.
   */
  intents(batch: readonly Intent[]): Promise<void>;
  /** Record a reflink's clone inode on its journal row, committed when the promise resolves. */
  cloneInode(r: { readonly actionId: number; readonly inode: bigint }): Promise<void>;
  /** The outcomes of applied actions, their catalog rows and journal rows, in one transaction. */
  outcomes(batch: OutcomeBatch): Promise<void>;
  /** Checked actions' NOOP and failed verdicts, in one transaction. */
  verdicts(batch: readonly Verdict[]): Promise<void>;
  /**
   * Every open journal row with its action, mode and clone inode. A run keeps at most a few
   * batches in flight, so this is a few thousand rows at most.
   */
  open(): Promise<readonly OpenJournalEntry[]>;
  /** Settle one journaled action as recovery decided, in one transaction. */
  settle(r: RecoveryRecord): Promise<void>;
  /**
   * After recovery by the run of `pid`: plans left 'executing' (those of the settled rows, and
   * any other a killed run left with nothing in flight) are 'interrupted', except a plan
   * another holder's device lock names (it runs on other devices).
   */
  closeInterrupted(req: { readonly pid: number }): Promise<void>;
  /** What killed runs left to recover: open execute or undo journal rows, undos left half-way. */
  pending(): Promise<{
    readonly execute: boolean;
    readonly undoJournal: boolean;
    readonly undoPlans: boolean;
  }>;
}

/** The plan a run executes, as the catalog decodes its actions. */
export interface PlanRef {
  readonly id: number;
  readonly mode: ReplaceMode;
}

export interface ExecutionOps {
  /** The plan as it is now (recovery may have changed it), if it exists. */
  plan(id: number): Promise<PlanRow | undefined>;
  /** The devices the plan's actions act on (targets and sources): what its run locks. */
  planDevices(planId: number): Promise<number[]>;
  /**
   * The plan's replacements (HARDLINK rows, REFLINK under a reflink plan), whatever their
   * status, and the bytes they save: what a run's header and progress count to.
   */
  replacements(planId: number): Promise<{ readonly actions: number; readonly bytes: number }>;
  /** The next page of the plan's actions in execution order, after an action id, decoded. */
  actionPage(req: {
    readonly plan: PlanRef;
    readonly after: number;
    readonly limit: number;
  }): Promise<PlanAction[]>;
  /**
   * Where this filesystem's finished scans started, as paths inside it (auto-execute --rescan
   * scans them again).
   */
  scanRoots(deviceId: number): Promise<Buffer[]>;
  /** The catalogued filesystems (where each is mounted is the run's to find). */
  devices(): Promise<DeviceRow[]>;
  /** The plan's status (and, when it ends, the time it ended). */
  setStatus(req: {
    readonly planId: number;
    readonly status: PlanStatus;
    readonly endedAt?: number;
  }): Promise<void>;
  /** How many of the plan's actions failed, in all its runs. */
  failedCount(planId: number): Promise<number>;
  /**
   * Bytes the plan's executed actions freed (hardlink) or made shared (reflink), in all runs.
   */
  bytesSaved(plan: PlanRef): Promise<number>;
}

export interface ReplacementOps {
  /**
   * The ctimes our own operations left on these inodes during the plan's execution (a resumed
   * run), by `device:inode`; inodes it never changed are absent.
   */
  ownCtimes(req: {
    readonly planId: number;
    readonly inodes: readonly { readonly deviceId: number; readonly inode: bigint }[];
  }): Promise<Map<string, bigint>>;
  /** The inode the catalog records at each path (active rows), in order; undefined: none. */
  catalogInodes(
    paths: readonly { readonly deviceId: number; readonly path: Buffer }[],
  ): Promise<(bigint | undefined)[]>;
}

export interface ExecuteCatalog {
  readonly executorLock: ExecutorLockOps;
  readonly journal: JournalOps;
  readonly execution: ExecutionOps;
  readonly replacement: ReplacementOps;
}

function acquireLock(
  db: DB,
  req: {
    readonly holder: LockHolder;
    readonly devices: readonly number[];
    readonly alive: (h: LockHolder) => boolean;
  },
): LockAcquisition {
  return db
    .transaction((): LockAcquisition => {
      const wanted = new Set(req.devices);
      const verdicts = new Map<string, boolean>();
      const replaced: DeviceLock[] = [];
      for (const lock of readLocks(db)) {
        if (!wanted.has(lock.deviceId) || sameHolder(lock.holder, req.holder)) continue;
        const key = `${lock.holder.hostname}:${lock.holder.pid}:${lock.holder.startTime}`;
        let alive = verdicts.get(key);
        if (alive === undefined) {
          alive = req.alive(lock.holder);
          verdicts.set(key, alive);
        }
        if (alive) return { kind: 'held', lock };
        replaced.push(lock);
      }
      for (const d of wanted) writeLock(db, d, req.holder);
      return { kind: 'acquired', replaced };
    })
    .immediate();
}

function openEntries(db: DB): OpenJournalEntry[] {
  const modes = new Map<number, ReplaceMode>();
  return openJournal(db).map((journal) => {
    let mode = modes.get(journal.planId);
    if (mode === undefined) {
      const plan = getPlan(db, journal.planId);
      mode = plan ? replaceMode(plan) : 'hardlink';
      modes.set(journal.planId, mode);
    }
    return {
      journal,
      action: getAction(db, journal.actionId),
      mode,
      cloneInode: journaledCloneInode(db, journal.actionId),
    };
  });
}

function replacements(db: DB, planId: number): { actions: number; bytes: number } {
  let actions = 0;
  let bytes = 0;
  for (const c of actionCounts(db, planId)) {
    if (c.type !== 'HARDLINK') continue;
    actions += c.n;
    bytes += c.bytes;
  }
  return { actions, bytes };
}

function closeInterrupted(db: DB, pid: number): void {
  db.transaction(() => closeInterruptedPlans(db, pid)).immediate();
}

/** SQLite answers at once: its result (or its error) as a settled promise. */
function answer<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/**
 * The port over one connection. The checkpointer starts with a run's first intents (a run
 * that applies actions: checkpointer.ts says why) and stops when the catalog closes.
 */
export function executeOps(db: DB, checkpointer?: WalCheckpointer): ExecuteCatalog {
  return {
    executorLock: {
      acquire: (req) => answer(() => acquireLock(db, req)),
      release: (pid) => answer(() => clearLock(db, pid)),
      holders: () => answer(() => readLocks(db)),
    },
    journal: {
      intents: (batch) =>
        answer(() => {
          checkpointer?.start();
          journalIntents(db, batch);
        }),
      cloneInode: (r) => answer(() => journalCloneInode(db, r.actionId, r.inode)),
      outcomes: (batch) => answer(() => recordOutcomes(db, batch)),
      verdicts: (batch) => answer(() => recordVerdicts(db, batch)),
      open: () => answer(() => openEntries(db)),
      settle: (r) => answer(() => recordRecovery(db, r)),
      closeInterrupted: (req) => answer(() => closeInterrupted(db, req.pid)),
      pending: () =>
        answer(() => ({
          execute: openJournal(db).length > 0,
          undoJournal: openUndoJournal(db).length > 0,
          undoPlans: interruptedUndoPlans(db).length > 0,
        })),
    },
    execution: {
      plan: (id) => answer(() => getPlan(db, id)),
      planDevices: (planId) => answer(() => planDevices(db, planId)),
      replacements: (planId) => answer(() => replacements(db, planId)),
      actionPage: (req) => answer(() => planActionPage(db, req.plan, req.after, req.limit)),
      scanRoots: (deviceId) => answer(() => recordedScanRoots(db, deviceId)),
      devices: () => answer(() => listDevices(db)),
      setStatus: (req) => answer(() => setPlanStatus(db, req.planId, req.status, req.endedAt)),
      failedCount: (planId) => answer(() => countActions(db, planId, 'failed')),
      bytesSaved: (plan) =>
        answer(() =>
          plan.mode === 'reflink' ? bytesShared(db, plan.id) : bytesFreed(db, plan.id),
        ),
    },
    replacement: {
      ownCtimes: (req) => answer(() => ownCtimes(db, req.planId, req.inodes)),
      catalogInodes: (paths) =>
        answer(() => paths.map((p) => catalogInode(db, p.deviceId, p.path))),
    },
  };
}
