/**
 * What a stored plan and action mean, decoded once at the catalog's edge. Pure: no database
 * here, so code outside src/catalog may use it (the layer rule allows this module's values).
 */
import type { PlanRow } from './plans.js';
import type { ActionRow, ActionType } from './plan-types.js';

/**
 * How a plan replaces its duplicates. Stored in the plan's options (absent in plans made before
 * reflink mode: hardlink); both modes store their replacements as HARDLINK rows.
 */
export type ReplaceMode = 'hardlink' | 'reflink';

/**
 * An action as the executor sees it, decoded once at the catalog's edge: the stored form is a
 * HARDLINK row plus the plan's mode (no migration), so nothing past this point asks the mode
 * again to know what a row means. `row` is the stored action (reports carry it).
 */
export type PlanAction =
  | { readonly type: 'HARDLINK'; readonly row: ActionRow }
  | { readonly type: 'REFLINK'; readonly row: ActionRow }
  /** The target was already the kept file (or shared every block with it) when planned. */
  | { readonly type: 'NOOP'; readonly row: ActionRow }
  | { readonly type: 'SKIP'; readonly row: ActionRow; readonly reason: string };

/** What a stored action type means under a plan's mode: HARDLINK rows of a reflink plan are REFLINK. */
export function decodeActionType(type: ActionType, mode: ReplaceMode): PlanAction['type'] {
  return type === 'HARDLINK' && mode === 'reflink' ? 'REFLINK' : type;
}

export function decodeAction(row: ActionRow, mode: ReplaceMode): PlanAction {
  const type = decodeActionType(row.type, mode);
  switch (type) {
    case 'HARDLINK':
    case 'REFLINK':
    case 'NOOP':
      return { type, row };
    case 'SKIP':
      return { type, row, reason: row.reason ?? 'skipped' };
  }
}

/** How the plan replaces duplicates (plans made before reflink mode: hardlink). */
export function replaceMode(plan: Pick<PlanRow, 'options'>): ReplaceMode {
  return plan.options.mode === 'reflink' ? 'reflink' : 'hardlink';
}
