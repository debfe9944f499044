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
 * Test-only: HASHALL_TEST_ACTION_DELAY_MS slows each action of a run down (and makes it record
 * every action at once) so that a test can interrupt a run in the middle. 0 in normal use.
 */
export function testActionDelayMs(): number {
  return Number(process.env.HASHALL_TEST_ACTION_DELAY_MS ?? 0);
}
