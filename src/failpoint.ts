/**
 * Test-only crash injection. HASHALL_FAILPOINT=NAME kills the process with SIGKILL when it
 * reaches step NAME (the HASHALL_FAILPOINT_AFTER-th time; for the executor optionally only at
 * action HASHALL_FAILPOINT_ACTION), so that the crash tests can prove every step is
 * recoverable. Unset in normal use; the check is one string comparison.
 */
const point = process.env.HASHALL_FAILPOINT;
const onAction = process.env.HASHALL_FAILPOINT_ACTION
  ? Number(process.env.HASHALL_FAILPOINT_ACTION)
  : undefined;
let countdown = process.env.HASHALL_FAILPOINT_AFTER
  ? Number(process.env.HASHALL_FAILPOINT_AFTER)
  : 0;

export function failpoint(name: string, actionId = 0): void {
  if (point !== name) return;
  if (onAction !== undefined && onAction !== actionId) return;
  if (countdown-- > 0) return;
  process.kill(process.pid, 'SIGKILL');
}

/**
 * Test-only slow-downs and switches, read once when the process starts (never per file):
 * HASHALL_FAILPOINT_DELAY="NAME=MS,…" pauses at step NAME for MS milliseconds, so that a test
 * can interrupt a run at a known phase or watch progress move; HASHALL_FAILPOINT_FLAGS="NAME,…"
 * switches a test behaviour on. Unset in normal use.
 */
export type FailpointDelay =
  /** Before each directory of the walk, which then lists each directory in turn (not ahead). */
  | 'scan-dir'
  /** Before each job of the hash stages, which then go one job per batch. */
  | 'scan-hash-job'
  /** Before each action an execute checks, batching unchanged (unlike execute-action). */
  | 'execute-check'
  /**
   * Before each action an execute checks, and each is then applied and recorded at once (a
   * batch of one), so that a test can interrupt a run in the middle.
   */
  | 'execute-action'
  /** Before each path an undo restores, each then recorded at once (a test interrupts it). */
  | 'undo-action'
  /** After each page a catalog copy writes (a test cuts the server off mid-copy). */
  | 'copy-page'
  /**
   * Between an action's checks and its replacement (after its batch is journaled): a test
   * swaps a directory there.
   */
  | 'execute-apply'
  /**
   * Inside the synchronous replacement, after the directories are re-checked and before the
   * link and the rename (failpointPauseSync: the process blocks, nothing else runs).
   */
  | 'execute-act'
  /** Before a scan's recovery reads the locks, having read the journal (a run ends meanwhile). */
  | 'scan-recovery-journal'
  /** Before a scan's recovery locks the devices it read as free (a run takes one meanwhile). */
  | 'scan-recovery-lock';
export type FailpointFlag =
  /** Commit after every directory and every hash batch (crash tests land between commits). */
  | 'scan-small-commits'
  /** The native executor opens paths component by component, as without openat2. */
  | 'no-openat2';

const delays = new Map<string, number>();
for (const item of (process.env.HASHALL_FAILPOINT_DELAY ?? '').split(',')) {
  const [name, ms] = item.split('=');
  if (name && ms && Number(ms) > 0) delays.set(name.trim(), Number(ms));
}
const flags = new Set(
  (process.env.HASHALL_FAILPOINT_FLAGS ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== ''),
);

/** The pause set for a step, in milliseconds (0: none). */
export function failpointDelayMs(name: FailpointDelay): number {
  return delays.get(name) ?? 0;
}

/**
 * Block the whole process for step NAME's pause (test-only): for a pause inside a synchronous
 * check-then-act sequence, where an await would change what it tests.
 */
export function failpointPauseSync(name: FailpointDelay): void {
  const ms = delays.get(name) ?? 0;
  if (ms <= 0) return;
  pausing(name);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Pause at step NAME (test-only), saying so first on stderr. */
export async function failpointPause(name: FailpointDelay): Promise<void> {
  const ms = delays.get(name) ?? 0;
  if (ms <= 0) return;
  pausing(name);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The line a test waits for before it changes the disk under the paused run (stderr is a pipe
 * there: written synchronously on Linux, so it is out before the pause starts).
 */
function pausing(name: string): void {
  process.stderr.write(`hashall: failpoint: paused at ${name}\n`);
}

export function failpointFlag(name: FailpointFlag): boolean {
  return flags.has(name);
}
