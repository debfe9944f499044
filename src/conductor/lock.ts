/**
 * One executor per catalog. The lock is a row in the catalog, taken inside a write transaction
 * (so two takers serialise on SQLite's lock), naming the holder's pid and its start time: a
 * holder that died (SIGKILL, power loss) is recognised as gone even if its pid was reused.
 */
import { hostname } from 'node:os';
import type { DB } from '../catalog/open.js';
import { clearLock, readLock, writeLock, type LockHolder } from '../catalog/executor-lock.js';
import { UserError } from '../errors.js';
import { processStartTime } from '../fs/process.js';

// Kept here for callers written before it moved down to fs/.
export { processStartTime };

export function holderAlive(h: LockHolder): boolean {
  if (h.hostname !== hostname()) return true; // cannot tell: assume it is
  const start = processStartTime(h.pid);
  return start !== undefined && start === h.startTime;
}

/** Take the executor lock, or refuse naming who holds it. Returns the stale holder replaced, if any. */
export function acquireExecutorLock(db: DB, planId: number): LockHolder | undefined {
  let stale: LockHolder | undefined;
  db.transaction(() => {
    const current = readLock(db);
    if (current && current.pid !== process.pid && holderAlive(current)) {
      throw new UserError(
        `another hashall execute holds this catalog (pid ${current.pid} on ${current.hostname}, plan ${current.planId ?? '?'}, since ${new Date(current.acquiredAt).toISOString()}); wait for it to finish`,
      );
    }
    stale = current && current.pid !== process.pid ? current : undefined;
    writeLock(db, {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '0',
      hostname: hostname(),
      planId,
      acquiredAt: Date.now(),
    });
  }).immediate();
  return stale;
}

export function releaseExecutorLock(db: DB): void {
  clearLock(db, process.pid);
}

/** The live holder of the lock, if any (a scan leaves an executing run's journal alone). */
export function liveHolder(db: DB): LockHolder | undefined {
  const h = readLock(db);
  return h && holderAlive(h) ? h : undefined;
}
