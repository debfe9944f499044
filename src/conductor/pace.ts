/**
 * Paces a long run over actions: every 50 ms it yields to the event loop, so that Ctrl-C (a
 * signal handler) is heard between two actions; under a test's action delay
 * (failpoint.ts: HASHALL_FAILPOINT_DELAY=execute-action=MS) it sleeps before each action instead, so that a
 * test can interrupt a run in the middle.
 */
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';

export class Pacer {
  private last = Date.now();

  constructor(
    private readonly testDelayMs: number,
    /** A test's pause before each action that leaves the run's batching as it is. */
    private readonly checkDelayMs = 0,
  ) {}

  /** Call before each action. */
  async step(): Promise<void> {
    if (this.checkDelayMs > 0) await sleep(this.checkDelayMs);
    if (this.testDelayMs > 0) {
      await sleep(this.testDelayMs);
      this.last = Date.now();
    } else if (Date.now() - this.last > 50) {
      await yieldToLoop();
      this.last = Date.now();
    }
  }
}
