/**
 * How a plan replaces a duplicate: `hardlink` (the target path becomes another name of the kept
 * inode) or `reflink` (the target path becomes a new, independent inode whose blocks are shared
 * copy-on-write with the kept file).
 *
 * Both are stored as `HARDLINK` actions ("replace this target with the kept content"): the
 * plan's mode (in its options) says how. Output shows `REFLINK` for the actions of a reflink
 * plan; anything that lists actions should use actionLabel(). The catalog decodes actions
 * (decodeAction in catalog/actions.ts): this module only names its answers.
 */
import { replaceMode, decodeActionType, type ReplaceMode } from '../catalog/action-decode.js';
import type { ActionType } from '../catalog/plan-types.js';
import { type PlanRow } from '../catalog/plans.js';

export type Mode = ReplaceMode;
export const MODES: readonly Mode[] = ['hardlink', 'reflink'];

export function planMode(plan: Pick<PlanRow, 'options'>): Mode {
  return replaceMode(plan);
}

/** The action type as users see it: HARDLINK actions of a reflink plan are REFLINK. */
export function actionLabel(mode: Mode, type: ActionType): string {
  return decodeActionType(type, mode);
}
