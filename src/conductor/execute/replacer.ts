/**
 * How a verified duplicate is replaced: one Replacer per mode, chosen once when a run starts
 * (replacerFor), so that the run loop and the checks never ask which mode they are in.
 */
import type { BigIntStats } from 'node:fs';
import type { Catalog } from '../../catalog/port.js';
import type { ActionRow } from '../../catalog/actions.js';
import type { Expectations } from './identity.js';
import type { Applied, Outcome, Verified, Verify } from './types.js';

/** What a replacer needs of the run. */
export interface ReplacerContext {
  readonly catalog: Pick<Catalog, 'journal' | 'replacement'>;
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
   * Read what `resumed` needs to know of a page of actions from the catalog, in one batch,
   * before any of them is checked.
   */
  prefetch(page: readonly ActionRow[]): Promise<void>;
  /**
   * An action an earlier run of this plan executed: its verdict without verification, or
   * undefined to verify it as usual (which finds a hardlink standing). Its page was prefetched.
   */
  resumed(action: ActionRow, targetAbs: Buffer | undefined): Outcome | undefined;
  /** Source and target metadata that make this replacement wrong: throws Stale. */
  checkMetadata(source: BigIntStats, target: BigIntStats): void;
  /** What `conductor undo` needs of the target before it is replaced, if anything. */
  originalTarget(v: Verified): BigIntStats | undefined;
  /**
   * Steps 5-8 for one journaled action. Failures are outcomes, never exceptions. Between the
   * last identity check and the rename nothing is awaited: no other work runs in between.
   */
  apply(v: Verified): Promise<Applied>;
}
