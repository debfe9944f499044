/**
 * Listing ahead of the walk: while the main thread merges one directory, the next few on the
 * walk's stack are already being listed on libuv's thread pool (native lister only: the JS one
 * lists through the process's working directory, one directory at a time). The order in which
 * the walk reports directories is unchanged; each prefetched listing still opens its directory
 * with O_NOFOLLOW and checks it against what the parent's listing showed, only sooner.
 */
import type { DirLister, DirRead } from '../fs/dir-list.js';
import { SHORT_PATH_LIMIT } from '../fs/reach.js';

/** How many directories may be listed ahead of the one being merged. */
const DEPTH = 4;

/** A directory the walk will list: its path and what lstat showed when its parent was listed. */
interface Listable {
  readonly abs: Buffer;
  readonly stDev: bigint;
  readonly ino: bigint;
}

export class ListAhead<T extends Listable> {
  private readonly started = new Map<T, Promise<DirRead> | DirRead>();

  constructor(private readonly lister: DirLister) {}

  /** Start listing the directories at the top of `stack` (the next ones popped). */
  prime(stack: readonly T[]): void {
    if (this.lister.kind !== 'native') return;
    for (let i = stack.length - 1; i >= 0 && i >= stack.length - DEPTH; i--) {
      const d = stack[i]!;
      // Paths beyond PATH_MAX are reached through an fd the walk holds (reach.ts): not ahead.
      if (this.started.has(d) || d.abs.length >= SHORT_PATH_LIMIT) continue;
      this.started.set(d, this.lister.list(d.abs, { dev: d.stDev, ino: d.ino }));
    }
  }

  /** The listing started for `d`, if any (it is then forgotten). */
  take(d: T): Promise<DirRead> | DirRead | undefined {
    const r = this.started.get(d);
    this.started.delete(d);
    return r;
  }
}
