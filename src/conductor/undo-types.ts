/** What undoing one path ends in, as the run loop (undo.ts) and the per-path undo share it. */
import type { ActionRow } from '../catalog/actions.js';

/** The name of undo's temporary copies (recovery removes only names with this prefix). */
export const UNDO_TEMP_PREFIX = '.hashall-undo-';

export type UndoOutcome =
  /** `legacy`: executed before hashall recorded the target's metadata (see undo.ts). */
  | { kind: 'restored'; legacy: boolean }
  | { kind: 'would-restore'; legacy: boolean }
  | { kind: 'left'; why: string }
  | { kind: 'failed'; error: string };

export interface UndoReport {
  readonly action: ActionRow;
  readonly targetAbs: Buffer | undefined;
  readonly outcome: UndoOutcome;
}
