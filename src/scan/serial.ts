/**
 * Catalog steps one after another, in the order they were asked for. The post-walk hash stage
 * has two actors on one catalog connection: its loop reads pages of jobs, and the workers'
 * results are written as they come back. With an asynchronous backend their operations would
 * otherwise overlap, and a page read could land inside a unit of work writing results
 * (port.ts: no unrelated catalog work while a unit of work is open).
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  /** Run fn once every step asked for before it has settled (whether it failed or not). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
