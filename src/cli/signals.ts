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

/** Set once the command's own error is on stderr: a lost output then needs no line of its own. */
let errorSaid = false;

/** The CLI printed the command's error (it may be about the same lost output). */
export function errorReported(): void {
  errorSaid = true;
}

/**
 * The reader of our output went away: a pipe's reader exited (`| head` that has read enough, a
 * pager quit, a `| tee` killed by the same Ctrl-C as we were). A C tool would die of SIGPIPE;
 * Node ignores the signal and each write fails with EPIPE instead, as an 'error' event on the
 * stream that, unheard, ends the process with a stack trace wherever it is, mid-execute
 * included. Heard here: what is still written to that stream goes nowhere, and the running
 * command stops at its next safe point, as after a first Ctrl-C (exit 130 for a command that
 * was interrupted; one that had finished exits as it would have). Any other failure to write
 * stdout (a redirection onto a full disk) stops it the same way and is said once, as the
 * process ends, unless the command's own error said it (an export to `-` does); a command that
 * would have exited 0 exits 1.
 */
export function installOutputGuards(): void {
  const guard = (name: 'standard output' | 'standard error') => {
    let heard = false;
    return (err: Error) => {
      if (heard) return;
      heard = true;
      stop = true;
      if (errnoCode(err) === 'EPIPE' || name === 'standard error') return;
      const why = describeErrno(err);
      process.once('exit', () => {
        if (errorSaid) return;
        const stopped = process.exitCode === EXIT.interrupted;
        process.stderr.write(
          `hashall: error: cannot write to ${name}: ${why}${stopped ? '; stopped at a safe point, what was done is committed' : ''}\n`,
        );
        // Output that was asked for and lost is not a success, though the command's work is.
        if (!process.exitCode) process.exitCode = EXIT.partial;
      });
    };
  };
  process.stdout.on('error', guard('standard output'));
  process.stderr.on('error', guard('standard error'));
}
