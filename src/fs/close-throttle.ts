/**
 * Closing a file on libuv's thread pool, a bounded number at once. Closing the last reference to
 * a replaced inode makes the kernel free it and its blocks then (with discard, waiting on the
 * device): that was a third of execute's time on the main thread.
 */
import { close } from 'node:fs';

export class CloseThrottle {
  private closing = 0;
  private waiter: { max: number; resolve: () => void } | undefined;

  /** Close `fd` in the background. */
  close(fd: number): void {
    this.closing++;
    close(fd, () => {
      this.closing--;
      const w = this.waiter;
      if (w && this.closing <= w.max) {
        this.waiter = undefined;
        w.resolve();
      }
    });
  }

  /**
   * Wait until at most `max` closes are in flight. A counter and one waiter: racing a promise
   * per close (Promise.race over all of them, once per completed close) was quadratic.
   */
  settle(max: number): Promise<void> {
    if (this.closing <= max) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = { max, resolve };
    });
  }
}
