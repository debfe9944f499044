/**
 * Ctrl-C: the first asks the running command to stop at the next safe point (it commits what
 * it has and exits 130); a second one exits at once — SQLite rolls back the open transaction.
 */
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
