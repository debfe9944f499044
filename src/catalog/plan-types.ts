/**
 * The shapes a plan is stored in: its actions as the planner hands them over and as the catalog
 * stores them, and its filters as kept in the plan's options. They live here, below the
 * conductor that produces them, so that the catalog that stores them needs nothing from above
 * (conductor/keep.ts and conductor/filters.ts re-export them), and below actions.ts and
 * action-decode.ts, which both read a stored action.
 */
import type { Member } from './groups.js';

export type ActionType = 'HARDLINK' | 'NOOP' | 'SKIP';

export interface PlannedAction {
  readonly type: ActionType;
  readonly source: Member;
  readonly target: Member;
  /** The target inode's size on the one action that frees it (its last link), else 0. */
  readonly bytes: number;
  readonly reason?: string;
  /** The rule that chose the group's kept copy (see conductor/keep-rules.ts). */
  readonly keepRule?: string;
}

/** How filters are stored in a plan and printed in JSON (snake_case, like every JSON key). */
export interface FiltersJson {
  readonly min_size: number | null;
  readonly max_size: number | null;
  readonly mtime_since: string | null;
  readonly mtime_before: string | null;
  readonly include: string[];
  readonly exclude: string[];
}

export const NO_FILTERS_JSON: FiltersJson = {
  min_size: null,
  max_size: null,
  mtime_since: null,
  mtime_before: null,
  include: [],
  exclude: [],
};

/** What planFilters reads of a plan's stored options (PlanOptions fits). */
export interface StoredFilterOptions {
  readonly keep: string;
  readonly keep_rules?: string[];
  readonly filters?: FiltersJson;
}

/** A plan's filters and keep rules, also for plans made before they were stored. */
export function planFilters(o: StoredFilterOptions): { filters: FiltersJson; keepRules: string[] } {
  return {
    filters: { ...NO_FILTERS_JSON, ...(o.filters ?? {}) },
    keepRules: o.keep_rules ?? [o.keep],
  };
}

/** Where an action stands: planned, done, or why not. */
export type ActionStatus = 'pending' | 'executed' | 'noop' | 'failed' | 'skipped';

/** An action as the catalog stores it (actions.ts reads and writes it). */
export interface ActionRow {
  readonly id: number;
  readonly planId: number;
  readonly groupNo: number;
  readonly type: ActionType;
  readonly deviceId: number;
  readonly groupHash: Buffer | null;
  readonly size: number;
  readonly sourceDeviceId: number;
  readonly sourcePath: Buffer;
  readonly targetPath: Buffer;
  readonly sourceInode: bigint;
  readonly sourceMtimeNs: bigint;
  readonly sourceCtimeNs: bigint;
  readonly targetInode: bigint;
  readonly targetMtimeNs: bigint;
  readonly targetCtimeNs: bigint;
  readonly targetNlink: number;
  readonly bytes: number;
  readonly keepRule: string | null;
  readonly reason: string | null;
  readonly status: ActionStatus;
  readonly error: string | null;
  /** The target's catalog row when the plan was made (undefined in plans made before). */
  readonly targetFileId: number | undefined;
  /** What `conductor undo` did to this action (null before any undo; see catalog/undo.ts). */
  readonly undoStatus?: 'undone' | 'left' | 'failed' | null;
}
