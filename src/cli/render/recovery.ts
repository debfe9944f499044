/** How the CLI tells the user about the recovery a run did first (on stderr, as a note). */
import { describeRecovery, describeUndoRecovery, type RunEvent } from '../../conductor/run.js';
import { warn, type GlobalOptions } from '../context.js';
import { styleFor } from '../style.js';

/** The line for one recovery event, undefined when that recovery found nothing to do. */
export function recoveryEventText(e: RunEvent): string | undefined {
  const text =
    e.kind === 'recovered-execute' ? describeRecovery(e.report) : describeUndoRecovery(e.report);
  return text === undefined ? undefined : styleFor(process.stderr).deco('🔧', text);
}

/** A `RunEvent` renderer for execute, undo and auto-execute. */
export function warnRecovery(opts: GlobalOptions): (e: RunEvent) => void {
  return (e) => {
    const text = recoveryEventText(e);
    if (text) warn(opts, text);
  };
}
