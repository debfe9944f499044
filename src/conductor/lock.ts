/**
 * One executor per catalog. The lock is a record in the catalog, taken atomically by the catalog
 * (two takers serialise on it), naming the holder's pid and its start time: a holder that died
 * (SIGKILL, power loss) is recognised as gone even if its pid was reused.
 */
import { hostname } from 'node:os';
import type { Catalog } from '../catalog/port.js';
import type { LockHolder } from '../catalog/execute-port.js';
import { UserError } from '../errors.js';
import { processStartTime } from '../fs/process.js';

type LockCatalog = Pick<Catalog, 'executorLock'>;

export function holderAlive(h: LockHolder): boolean {
  if (h.hostname !== hostname()) return true; // cannot tell: assume it is
  const start = processStartTime(h.pid);
  return start !== undefined && start === h.startTime;
}

/** Take the executor lock, or refuse naming who holds it. Returns the stale holder replaced, if any. */
export async function acquireExecutorLock(
  catalog: LockCatalog,
  planId: number,
): Promise<LockHolder | undefined> {
  const r = await catalog.executorLock.acquire({
    holder: {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '0',
      hostname: hostname(),
      planId,
      acquiredAt: Date.now(),
    },
    alive: holderAlive,
  });
  if (r.kind === 'held') {
    const h = r.holder;
    throw new UserError(
      `another hashall execute holds this catalog (pid ${h.pid} on ${h.hostname}, plan ${h.planId ?? '?'}, since ${new Date(h.acquiredAt).toISOString()}); wait for it to finish`,
    );
  }
  return r.replaced;
}

export async function releaseExecutorLock(catalog: LockCatalog): Promise<void> {
  await catalog.executorLock.release(process.pid);
}

/** The live holder of the lock, if any (a scan leaves an executing run's journal alone). */
export async function liveHolder(catalog: LockCatalog): Promise<LockHolder | undefined> {
  const h = await catalog.executorLock.holder();
  return h && holderAlive(h) ? h : undefined;
}
