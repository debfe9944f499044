/**
 * One executor per device. The lock is a record per device in the catalog, taken atomically by
 * the catalog for a run's whole set of devices (two takers serialise on it), naming the holder's
 * host, pid and start time: a holder that died (SIGKILL, power loss) is recognised as gone even
 * if its pid was reused; on PostgreSQL its connection's advisory lock is gone with it. Runs on
 * disjoint devices (two hosts executing their own plans) proceed in parallel.
 */
import { hostname } from 'node:os';
import type { Catalog } from '../catalog/port.js';
import type { DeviceLock, LockAcquisition, LockHolder } from '../catalog/execute-port.js';
import { UserError } from '../errors.js';
import { processStartTime } from '../fs/process.js';

type LockCatalog = Pick<Catalog, 'executorLock'>;

export function holderAlive(h: LockHolder): boolean {
  if (h.hostname !== hostname()) return true; // cannot tell: assume it is
  const start = processStartTime(h.pid);
  return start !== undefined && start === h.startTime;
}

/** "device 3 is being executed by pid N on host H since T (plan P)": who keeps a device. */
export function describeLock(lock: DeviceLock, alias?: string): string {
  const h = lock.holder;
  const plan = h.planId ? `, plan ${h.planId}` : '';
  return `device ${alias ?? lock.deviceId} is being executed by pid ${h.pid} on host ${h.hostname} since ${new Date(h.acquiredAt).toISOString()}${plan}`;
}

/**
 * Take the executor lock of `devices`, or refuse naming who holds one of them. Returns the
 * stale locks replaced, if any.
 */
export async function acquireExecutorLock(
  catalog: LockCatalog,
  req: { readonly planId: number; readonly devices: readonly number[] },
): Promise<readonly DeviceLock[]> {
  const r = await tryExecutorLock(catalog, req);
  if (r.kind === 'held') {
    throw new UserError(
      `another hashall execute holds this device: ${describeLock(r.lock)}; wait for it to finish`,
    );
  }
  return r.replaced;
}

/** Take the executor lock of `devices` if no live holder keeps one of them. */
export async function tryExecutorLock(
  catalog: LockCatalog,
  req: { readonly planId: number; readonly devices: readonly number[] },
): Promise<LockAcquisition> {
  return catalog.executorLock.acquire({
    holder: {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '0',
      hostname: hostname(),
      planId: req.planId,
      acquiredAt: Date.now(),
    },
    devices: req.devices,
    alive: holderAlive,
  });
}

export async function releaseExecutorLock(catalog: LockCatalog): Promise<void> {
  await catalog.executorLock.release(process.pid);
}

/** The device locks live holders other than this process keep (their journals are theirs). */
export async function liveLocks(catalog: LockCatalog): Promise<DeviceLock[]> {
  const me = hostname();
  return (await catalog.executorLock.holders()).filter(
    (l) => !(l.holder.pid === process.pid && l.holder.hostname === me) && holderAlive(l.holder),
  );
}
