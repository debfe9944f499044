/**
 * The catalog as planning sees it: plans and their actions as written by `plan`, the duplicate
 * groups it pages through, scopes, the devices paths are shown under, the plan list, show-plan,
 * discard, and undo's records. Operations take a batch (a page of groups with their members,
 * a page of a plan's actions); the SQLite implementation is plan-sqlite.ts, the PostgreSQL one
 * pg/plan.ts (same semantics, tested by test/unit/plan-port.test.ts on both).
 *
 * Each write is atomic by itself (an undo's restore records its outcome, the target's row and
 * the kept inode's state together); planning a whole plan is one unit of work the caller asks
 * for (`catalog.unitOfWork`), so that a plan is either stored whole or not at all.
 */
import type { BigIntStats } from 'node:fs';
import type { DeviceRow } from './devices.js';
import type { Member } from './groups.js';
import type { ActionStatus, ActionRow } from './actions.js';
import type { ActionType, PlannedAction } from './plan-types.js';
import type { PlanOptions, PlanRow, PlanStatus } from './plans.js';
import type { ScopeDir, StoredScope } from './scope.js';
import type { UndoAction, UndoActionStatus, UndoJournalRow } from './undo.js';
import type { LockHolder } from './executor-lock.js';

// --- plans -------------------------------------------------------------------------------

export interface NewPlan {
  readonly name: string;
  readonly options: PlanOptions;
  /** The directories the plan is limited to, in the order given (empty: everything). */
  readonly scope: readonly StoredScope[];
}

export type DiscardResult =
  | { readonly kind: 'deleted'; readonly actions: number }
  | { readonly kind: 'refused'; readonly status: string }
  | { readonly kind: 'missing' };

export interface ReflinkUnsupported {
  readonly device: string;
  readonly fs_type: string;
  readonly reason: string;
}

export interface PlanRecords {
  /** Store a new pending plan and its scope; returns its id. */
  create(p: NewPlan): Promise<number>;
  get(id: number): Promise<PlanRow | undefined>;
  /** Every plan, by id (a catalog holds tens of plans, not thousands). */
  list(): Promise<PlanRow[]>;
  setStatus(p: {
    readonly id: number;
    readonly status: PlanStatus;
    readonly executedAt?: number;
  }): Promise<void>;
  /** After its actions: the plan's totals, and the candidates not hashed yet (not planned). */
  finalize(id: number): Promise<void>;
  /** A reflink plan's mode and the filesystems where nothing could be planned. */
  setReflinkOptions(id: number, unsupported: readonly ReflinkUnsupported[]): Promise<void>;
  /** The directories the plan was limited to (empty: everything). */
  scope(id: number): Promise<StoredScope[]>;
  /** Several plans' scopes at once (the plan list), by plan id. */
  scopes(ids: readonly number[]): Promise<Map<number, StoredScope[]>>;
  /** Targets that will show another mtime once linked (none in a reflink plan). */
  metadataChanges(id: number): Promise<number>;
  /** Who holds the executor lock (alive or not: conductor/lock.ts tells). */
  lockHolder(): Promise<LockHolder | undefined>;
  /** Delete a plan that was never executed, atomically with the check (see DiscardResult). */
  discardPending(id: number): Promise<DiscardResult>;
}

// --- a plan's actions --------------------------------------------------------------------

/** One group's planned actions, numbered in the plan. */
export interface PlannedGroup {
  readonly groupNo: number;
  readonly actions: readonly PlannedAction[];
}

export interface ActionCount {
  readonly type: ActionType;
  readonly status: ActionStatus;
  readonly reason: string | null;
  readonly n: number;
  readonly bytes: number;
}

export interface PlanActionRecords {
  /** Write a batch of groups' actions (atomic). */
  write(planId: number, groups: readonly PlannedGroup[]): Promise<void>;
  counts(planId: number): Promise<ActionCount[]>;
  /** For display: HARDLINK by bytes, then NOOP, then SKIP; a negative limit: all. */
  top(planId: number, limit: number): Promise<ActionRow[]>;
  /** Actions in execution order (by id), after an id. */
  page(q: {
    readonly planId: number;
    readonly afterId: number;
    readonly limit: number;
    readonly types: readonly ActionType[];
  }): Promise<ActionRow[]>;
}

// --- the groups planning reads -----------------------------------------------------------

/**
 * Which groups: duplicates within one filesystem, inodes with several paths and no duplicate
 * (already-optimal links, NOOPs), or one content on several filesystems. Select 'link-only'
 * after 'same-device': it leaves out the inodes the same-device selection holds.
 */
export type GroupKind = 'same-device' | 'link-only' | 'cross-device';

export interface GroupSelection {
  readonly kind: GroupKind;
  /** One filesystem (undefined: every one). */
  readonly deviceId: number | undefined;
  /** Only rows in the scope set by `planning.restrictTo`. */
  readonly scoped: boolean;
}

/** Group sizes to keep (bytes, inclusive); undefined: no bound. */
export interface SizeRange {
  readonly min: number | undefined;
  readonly max: number | undefined;
}

export interface GroupPage {
  /** Each group's members (a group outside the size range is left out). */
  readonly groups: Member[][];
  /** Pass as `after` for the next page; undefined: this was the last. */
  readonly next: number | undefined;
}

export interface PlanningOps {
  /** Later selections with `scoped` keep only rows at or below these directories. */
  restrictTo(dirs: readonly ScopeDir[]): Promise<void>;
  /** Select the groups of a kind (replacing the previous selection of that kind). */
  select(sel: GroupSelection): Promise<void>;
  /** The next page of a selection, with members, from `after` (0 at first). */
  page(q: {
    readonly kind: GroupKind;
    readonly after: number;
    readonly limit: number;
    readonly sizes: SizeRange;
  }): Promise<GroupPage>;
}

// --- devices and directories as planning names them --------------------------------------

export interface PlanDevices {
  list(): Promise<DeviceRow[]>;
  byAlias(alias: string): Promise<DeviceRow | undefined>;
  byIdentity(identity: string): Promise<DeviceRow | undefined>;
  /** Whether the catalog knows this directory (active) on its device. */
  isCataloguedDir(d: ScopeDir): Promise<boolean>;
}

// --- undo --------------------------------------------------------------------------------

export interface UndoPage {
  readonly actions: UndoAction[];
  /**
   * The ctime our own operations last left on the page's kept inodes, by `device:inode`
   * (inodes no execute or undo of this plan changed are absent).
   */
  readonly ownCtimes: ReadonlyMap<string, bigint>;
}

/** The kept inode after an undo took a link from it. */
export interface KeptInode {
  readonly ctimeNs: bigint;
  readonly nlink: number;
}

/** How one journaled undo action ended; each is recorded atomically with its journal row gone. */
export type UndoSettlement =
  /** The target is its own copy now (`target`: the copy's stat); `kept` when it could be read. */
  | {
      readonly kind: 'restored';
      readonly action: ActionRow;
      readonly target: BigIntStats;
      readonly kept: KeptInode | undefined;
    }
  /** Our rename happened but the path was replaced meanwhile: only the kept inode changed. */
  | { readonly kind: 'replaced-meanwhile'; readonly action: ActionRow; readonly kept: KeptInode }
  /** Nothing of ours stands: the action is to do again. */
  | { readonly kind: 'rolled-back'; readonly actionId: number };

export interface UndoRecords {
  /** Executed HARDLINK actions not undone yet, in plan order, after an id. */
  page(q: {
    readonly planId: number;
    readonly afterId: number;
    readonly limit: number;
  }): Promise<UndoPage>;
  /** Per device: executed HARDLINK actions still to undo and their sizes. */
  needs(planId: number): Promise<{ deviceId: number; actions: number; bytes: number }[]>;
  counts(planId: number): Promise<{ undone: number; remaining: number }>;
  setPlanStatus(
    planId: number,
    status: Extract<PlanStatus, 'undoing' | 'undone' | 'partially-undone'>,
  ): Promise<void>;
  /** A path left alone or failed (a restored one is settled). */
  setOutcome(p: {
    readonly actionId: number;
    readonly status: Exclude<UndoActionStatus, 'undone'>;
    readonly why: string;
  }): Promise<void>;
  /** Plans a killed undo left 'undoing' become 'partially-undone'; returns them. */
  settleInterruptedPlans(): Promise<number[]>;
  /** Whether a killed undo left anything to recover. */
  pending(): Promise<boolean>;
  /** The undo journal (committed before anything is made). */
  readonly journal: {
    intent(j: Omit<UndoJournalRow, 'tempInode'>): Promise<void>;
    /** Before the rename: recovery tells our copy from anything else by this inode. */
    tempInode(actionId: number, inode: bigint): Promise<void>;
    /** The copy was removed before it replaced anything. */
    drop(actionId: number): Promise<void>;
    /** Open rows, with their actions (a killed undo leaves one per path in flight). */
    open(): Promise<{ readonly row: UndoJournalRow; readonly action: ActionRow | undefined }[]>;
  };
  settle(s: UndoSettlement): Promise<void>;
}

export interface PlanCatalog {
  readonly plans: PlanRecords;
  readonly planActions: PlanActionRecords;
  readonly planning: PlanningOps;
  readonly planDevices: PlanDevices;
  readonly undo: UndoRecords;
}
