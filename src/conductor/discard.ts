/**
 * `conductor discard ID` (issue 12 §5): plans nobody will run must not pile up. Only a plan that
 * was never executed goes; one that ran (or is running) is the record of what was done to the
 * disk, which undo needs.
 */
import type { Catalog } from '../catalog/port.js';
import { UserError } from '../errors.js';
import { holderAlive } from './lock.js';

export async function discardPlan(
  catalog: Pick<Catalog, 'plans' | 'executorLock'>,
  id: number,
): Promise<{ actions: number }> {
  // Any device's lock may name the plan (a run holds one per device it acts on).
  const holder = (await catalog.executorLock.holders())
    .map((l) => l.holder)
    .find((h) => h.planId === id && holderAlive(h));
  if (holder) {
    throw new UserError(
      `plan ${id} is executing now (pid ${holder.pid} on ${holder.hostname}); it cannot be discarded`,
    );
  }
  const r = await catalog.plans.discardPending(id);
  if (r.kind === 'missing')
    throw new UserError(`no plan with id ${id}; 'hashall conductor plans' lists them`);
  if (r.kind === 'refused') {
    const undoHint =
      r.status === 'executed' || r.status === 'partial' || r.status === 'interrupted'
        ? `; 'hashall conductor undo ${id}' gives the replaced paths their own copies back`
        : '';
    throw new UserError(
      `plan ${id} is ${r.status}: only a plan that was never executed can be discarded (it is the record of what was done to the disk)${undoHint}`,
    );
  }
  return { actions: r.actions };
}
