/** The executor's public shapes (options, reports, summary) and what flows between its steps. */
import type { BigIntStats } from 'node:fs';
import type { ActionRow } from '../../catalog/actions.js';
import type { PlanStatus } from '../../catalog/plans.js';
import type { VerifiedDir } from '../../fs/safe-ops.js';

export type Verify = 'bytes' | 'hash';

export type Outcome =
  | { kind: 'executed' }
  | { kind: 'would-link' }
  | { kind: 'noop'; why: string }
  | { kind: 'failed'; error: string };

export interface ActionReport {
  readonly action: ActionRow;
  readonly sourceAbs: Buffer | undefined;
  readonly targetAbs: Buffer | undefined;
  readonly outcome: Outcome;
}

export interface ExecuteOptions {
  readonly dryRun: boolean;
  readonly verify: Verify;
  readonly shouldStop: () => boolean;
  readonly onAction?: (r: ActionReport) => void;
  /**
   * Each action as soon as it is checked, before its report (reports come in batches, and a dry
   * run's all at the end): what a progress bar counts.
   */
  readonly onChecked?: (action: ActionRow) => void;
}

export interface ExecuteSummary {
  planId: number;
  dryRun: boolean;
  executed: number;
  wouldLink: number;
  noop: number;
  failed: number;
  skipped: number;
  /** Bytes this run freed (reflink: shared): what its own replacements completed. */
  bytesSaved: number;
  /** Bytes the plan has freed (shared) in all, over every run of it so far. */
  planBytesSaved: number;
  wouldSave: number;
  status: PlanStatus;
  interrupted: boolean;
}

/** An action whose identity and bytes were proven, waiting for its batch's journal. */
export interface Verified {
  readonly action: ActionRow;
  readonly sourceAbs: Buffer;
  readonly targetAbs: Buffer;
  /** The source's name in `sdir`, the target's and our temp name in `tdir` (one component). */
  readonly srcName: Buffer;
  readonly tgtName: Buffer;
  readonly tempAbs: Buffer;
  readonly srcFd: number;
  readonly tgtFd: number;
  readonly sourceIno: bigint;
  /** The target as lstat saw it before we read it (reflink: the clone takes its metadata). */
  readonly targetSt: BigIntStats;
  readonly tdir: VerifiedDir;
  /** The source's directory: srcName names the source in it. */
  readonly sdir: VerifiedDir;
  readonly tmpName: Buffer;
}

/** What a report and the outcome transaction need of an applied action (not its paths and fds). */
export type Done = Pick<Verified, 'action' | 'sourceAbs' | 'targetAbs'>;

/**
 * What steps 5-8 did to one verified action, recorded in a later outcome transaction (held
 * until then, so it keeps only `Done` of the verified action).
 */
export type Applied =
  | { kind: 'executed'; v: Done; newSource: BigIntStats }
  | { kind: 'cloned'; v: Done; clone: BigIntStats; journalClear: boolean }
  | { kind: 'failed'; v: Done; error: string; journalClear: boolean };
