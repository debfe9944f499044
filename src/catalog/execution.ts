/**
 * The executor's units of work (DESIGN §4), each one transaction over a batch: the intents of a
 * batch of verified actions, the outcomes of one or more batches of applied actions (with the
 * catalog rows they change), the verdicts of checked actions (NOOP, SKIP, failed before
 * touching anything), and what recovery decides for one journaled action. Callers hand over a
 * batch and never open a transaction themselves: a backend over the network pays one round
 * trip per call, not one per file.
 */
import type { BigIntStats } from 'node:fs';
import type { DB } from './db.js';
import type { ActionRow } from './actions.js';
import { setActionOutcome } from './actions.js';
import { journalDone, journalIntent, type JournalRow } from './journal.js';
import {
  propagateIdentity,
  recordInodeMeta,
  recordReplacement,
  type SourceRows,
} from './replacement.js';
import { recordClone } from './clones.js';
import { recordOriginalMeta } from './undo.js';

/** An inode our own link, rename or unlink changed: its link count and ctime now. */
export interface InodeChange {
  readonly deviceId: number;
  readonly inode: bigint;
  readonly nlink: number;
  readonly ctimeNs: bigint;
}

/** A verified action about to be touched: its journal row and, for undo, what the target was. */
export interface Intent {
  readonly journal: JournalRow;
  /** The target before replacement (hardlink plans; a clone keeps the target's own metadata). */
  readonly originalTarget?: BigIntStats;
}

/** Journal every intent of a batch in one transaction, committed before anything is touched. */
export function journalIntents(db: DB, intents: readonly Intent[]): void {
  db.transaction(() => {
    for (const i of intents) {
      journalIntent(db, i.journal);
      if (i.originalTarget) recordOriginalMeta(db, i.journal.actionId, i.originalTarget);
    }
  }).immediate();
}

/** What one applied action did on disk. */
export type AppliedOutcome =
  /** The target is now a link of the source inode, which has these values now. */
  | {
      readonly kind: 'linked';
      readonly action: ActionRow;
      readonly source: { nlink: number; ctimeNs: bigint; mtimeNs: bigint };
    }
  /** The target is now this clone. */
  | {
      readonly kind: 'cloned';
      readonly action: ActionRow;
      readonly clone: BigIntStats;
      /** False when our staging directory is still there: the journal row stays for recovery. */
      readonly journalClear: boolean;
    }
  | {
      readonly kind: 'failed';
      readonly action: ActionRow;
      readonly error: string;
      /** False when our temp name is still there: the journal row stays for recovery. */
      readonly journalClear: boolean;
    };

/**
 * The outcomes of applied actions, the catalog rows of the paths they replaced and of the inodes
 * they touched, in one transaction; until it commits, their journal rows let recovery roll each
 * forward or back.
 */
export function recordOutcomes(
  db: DB,
  batch: {
    readonly planId: number;
    readonly outcomes: readonly AppliedOutcome[];
    readonly inodes: readonly InodeChange[];
  },
): void {
  if (batch.outcomes.length === 0 && batch.inodes.length === 0) return;
  const sources: SourceRows = new Map();
  db.transaction(() => {
    const now = Date.now();
    for (const o of batch.outcomes) {
      const { action } = o;
      if (o.kind === 'cloned') {
        setActionOutcome(db, action.id, 'executed', null, now);
        if (o.journalClear) journalDone(db, action.id);
        recordClone(db, action.deviceId, action.targetPath, o.clone);
      } else if (o.kind === 'linked') {
        setActionOutcome(db, action.id, 'executed', null, now);
        journalDone(db, action.id);
        recordReplacement(db, {
          deviceId: action.deviceId,
          targetPath: action.targetPath,
          sourceInode: action.sourceInode,
          st: o.source,
          targetFileId: action.targetFileId,
          sources,
        });
      } else {
        setActionOutcome(db, action.id, 'failed', o.error, now);
        if (o.journalClear) journalDone(db, action.id);
      }
    }
    recordInodeChanges(db, batch.planId, batch.inodes);
  }).immediate();
}

/**
 * A resumed run must recognise our ctime changes (conductor_inode_state), and the touched
 * inodes' catalog rows take their link counts and ctimes. Call inside a transaction.
 */
function recordInodeChanges(db: DB, planId: number, inodes: readonly InodeChange[]): void {
  for (const d of inodes) {
    propagateIdentity(db, planId, d.deviceId, d.inode, d.ctimeNs, d.nlink);
    recordInodeMeta(db, d.deviceId, d.inode, d);
  }
}

/** An action settled without touching anything: NOOP (with its note), or failed (why). */
export interface Verdict {
  readonly actionId: number;
  readonly status: 'noop' | 'failed';
  readonly note: string | null;
}

/** Record checked actions' verdicts in one transaction (a plan may hold many thousands). */
export function recordVerdicts(db: DB, verdicts: readonly Verdict[]): void {
  if (verdicts.length === 0) return;
  db.transaction(() => {
    const now = Date.now();
    for (const v of verdicts) setActionOutcome(db, v.actionId, v.status, v.note, now);
  }).immediate();
}

/** What recovery decided for one journaled action. */
export type RecoveryDecision =
  /** The target is the source inode (hardlink) or our clone (reflink): the action completed. */
  | {
      readonly kind: 'forward';
      readonly action: ActionRow;
      readonly target: BigIntStats;
      readonly replaced: 'link' | 'clone';
    }
  /** It never happened: the action is pending again (unless an earlier run executed it). */
  | { readonly kind: 'back'; readonly action: ActionRow | undefined };

/**
 * Settle one journal row in one transaction: the action's outcome, its catalog row, the inodes
 * the interrupted action changed, and the journal row itself.
 */
export function recordRecovery(
  db: DB,
  r: {
    readonly actionId: number;
    readonly planId: number;
    readonly decision: RecoveryDecision;
    readonly inodes: readonly InodeChange[];
  },
): void {
  db.transaction(() => {
    recordInodeChanges(db, r.planId, r.inodes);
    const d = r.decision;
    if (d.kind === 'forward') {
      const { action, target: st } = d;
      setActionOutcome(db, action.id, 'executed', null);
      if (d.replaced === 'clone') recordClone(db, action.deviceId, action.targetPath, st);
      else
        recordReplacement(db, {
          deviceId: action.deviceId,
          targetPath: action.targetPath,
          sourceInode: action.sourceInode,
          st: { nlink: Number(st.nlink), ctimeNs: st.ctimeNs, mtimeNs: st.mtimeNs },
          targetFileId: action.targetFileId,
        });
    } else if (d.action && d.action.status !== 'executed') {
      setActionOutcome(db, d.action.id, 'pending', null);
    }
    journalDone(db, r.actionId);
  }).immediate();
}
