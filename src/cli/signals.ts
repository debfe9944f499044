/**
 * Ctrl-C: the first asks the running command to stop at the next safe point (it commits what
 * it has and exits 130); a second one exits at once — SQLite rolls back the open transaction.
 */
let stop = false;

export function stopRequested(): boolean {
  return stop;
}

export function installSignalHandlers(): void {
  const handler = (signal: NodeJS.Signals) => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(
      `\nhashall: ${signal} received; stopping at the next safe point (again to quit at once)\n`,
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
