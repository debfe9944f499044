/**
 * How many file descriptors execute (and its dry run) may hold at once, derived from the
 * open-files limit and what the process already holds.
 *
 * RLIMIT_NOFILE has a soft and a hard limit; the kernel enforces the soft one. Node raises the
 * soft limit to the hard one at start, so the soft limit read here is normally the hard one —
 * and under `ulimit -n 256` (which sets both) it is 256. Whatever is open when the run starts
 * (stdio, libuv's epoll and signal fds, the catalog with its -wal and -shm files, the
 * execution log) is counted, and a margin is kept for what opens meanwhile (SQLite's temporary
 * files, the catalog's checkpointer thread with its connection, /proc reads, a reflink clone
 * and its staging directory).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { errnoCode } from '../errors.js';

/** The two sizes execute derives from the budget. */
export interface FdBudget {
  /** Open-files limit the budget was derived from (undefined: /proc did not say). */
  readonly limit: number | undefined;
  /** Verified actions per journal batch: each holds 2 file fds and pins 2 directory fds. */
  readonly batch: number;
  /** Directory fds kept open beyond those a batch pins. */
  readonly dirCache: number;
}

/** Descriptors kept free for what opens during the run besides the executor's own. */
export const FD_MARGIN = 64;
/** The executor's own batch size, when the limit allows it. */
export const MAX_BATCH = 256;
/** More cached directories gain nothing measurable (reference tree: 5,001 directories). */
export const MAX_DIR_CACHE = 8192;

/**
 * Per action of a batch: 2 file fds, and 2 directory fds it pins; after the batch is applied
 * its target fds close on the thread pool while the next batch fills (at most one batch's
 * worth is allowed to be in flight then, two while a batch is being closed): 6 in all.
 * Half of what remains after 16 batch actions' worth goes to the batch, so a low limit gives a
 * small batch and a usable cache rather than one or the other.
 */
const FDS_PER_ACTION = 6;

/**
 * The budget for `limit` with `inUse` descriptors open. A limit too small to run even one
 * action (with a cache of 2 directories) gives undefined.
 */
export function fdBudget(limit: number | undefined, inUse: number): FdBudget | undefined {
  if (limit === undefined || !Number.isFinite(limit) || limit > 1 << 30) {
    return { limit: undefined, batch: MAX_BATCH, dirCache: MAX_DIR_CACHE };
  }
  const spare = limit - inUse - FD_MARGIN;
  const batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(spare / (2 * FDS_PER_ACTION))));
  const dirCache = Math.min(MAX_DIR_CACHE, spare - FDS_PER_ACTION * batch);
  if (dirCache < 2) return undefined;
  return { limit, batch, dirCache };
}

/** The soft RLIMIT_NOFILE, the one the kernel enforces, if /proc tells it. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return undefined;
    return Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Descriptors this process holds now (not counting the one listing them). */
export function openFdCount(): number {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return 0;
  }
}

/** Is this error the process (EMFILE) or the system (ENFILE) running out of descriptors? */
export function isFdExhaustion(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'EMFILE' || code === 'ENFILE';
}
