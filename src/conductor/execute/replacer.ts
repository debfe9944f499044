/**
 * How a verified duplicate is replaced: one Replacer per mode, chosen once when a run starts
 * (replacerFor), so that the run loop and the checks never ask which mode they are in.
 */
import type { BigIntStats } from 'node:fs';
import type { DB } from '../../catalog/open.js';
import type { ActionRow } from '../../catalog/actions.js';
import type { Expectations } from './identity.js';
import type { Applied, Outcome, Verified, Verify } from './types.js';

/** What a replacer needs of the run. */
export interface ReplacerContext {
  readonly db: DB;
  readonly planId: number;
  readonly exp: Expectations;
  readonly verify: Verify;
  /** A read buffer the replacer may use (never while verification uses it). */
  readonly buf: Buffer;
}

export interface Replacer {
  /** 'link' or 'clone', for messages. */
  readonly verb: string;
  /**
   * An action an earlier run of this plan executed: its verdict without verification, or
   * undefined to verify it as usual (which finds a hardlink standing).
   */
  resumed(action: ActionRow, targetAbs: Buffer | undefined): Outcome | undefined;
  /** Source and target metadata that make this replacement wrong: throws Stale. */
  checkMetadata(source: BigIntStats, target: BigIntStats): void;
  /** What `conductor undo` needs of the target before it is replaced, if anything. */
  originalTarget(v: Verified): BigIntStats | undefined;
  /** Steps 5-8 for one journaled action. Failures are outcomes, never exceptions. */
  apply(v: Verified): Applied;
  /** Bytes the plan's executed actions have freed (reflink: shared) so far, in all runs. */
  planSaved(): number;
}
