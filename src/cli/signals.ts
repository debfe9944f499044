/**
 * Ctrl-C: the first asks the running command to stop at the next safe point (it commits what
 * it has and exits 130); a second one exits at once — SQLite rolls back the open transaction.
 * A reader of our output that went away asks the same as a first Ctrl-C (installOutputGuards).
 */
import { EXIT, describeErrno, errnoCode } from '../errors.js';

let stop = false;
/** Clears a progress line before the notice is printed (set while one is drawn). */
let clearLine: (() => void) | undefined;

export function stopRequested(): boolean {
  return stop;
}

/**
 * The progress display registers how to wipe its line: the notice then gets a line of its
 * own instead of being written into the bar (and the terminal's echoed ^C) it would garble.
 */
export function setLineClearer(fn: (() => void) | undefined): void {
  clearLine = fn;
}

export function installSignalHandlers(): void {
  const handler = (signal: NodeJS.Signals) => {
    if (stop) {
      clearLine?.();
      process.exit(130);
    }
    stop = true;
    if (clearLine) clearLine();
    else process.stderr.write('\n');
    process.stderr.write(
      `hashall: ${signal} received; stopping at the next safe point (again to quit at once)\n`,
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/**
 * The reader of our output went away: a pipe's reader exited (`| head` that has read enough, a
 * pager quit, a `| tee` killed by the same Ctrl-C as we were). A C tool would die of SIGPIPE;
 * Node ignores the signal and each write fails with EPIPE instead, as an 'error' event on the
 * stream that, unheard, ends the process with a stack trace wherever it is, mid-execute
 * included. Heard here: what is still written to that stream goes nowhere, and the running
 * command stops at its next safe point, as after a first Ctrl-C (exit 130 for a command that
 * was interrupted; one that had finished exits as it would have). Any other failure to write
 * (a redirection onto a full disk) stops it the same way, said once on stderr if it can be,
 * and a command that would have exited 0 exits 1.
 */
export function installOutputGuards(): void {
  const guard = (name: 'standard output' | 'standard error') => {
    let heard = false;
    return (err: Error) => {
      if (heard) return;
      heard = true;
      stop = true;
      if (errnoCode(err) === 'EPIPE' || name === 'standard error') return;
      process.stderr.write(
        `hashall: cannot write to ${name}: ${describeErrno(err)}; stopping at the next safe point\n`,
      );
      // Output that was asked for and lost is not a success, though the command's work is.
      process.once('exit', () => {
        if (!process.exitCode) process.exitCode = EXIT.partial;
      });
    };
  };
  process.stdout.on('error', guard('standard output'));
  process.stderr.on('error', guard('standard error'));
}
