/**
 * How the read side (analyze, dupes) sees groups through the catalog port: the scope as the
 * rows a query keeps, and the group options a plan would use (visible paths, filters, scope).
 * plan.ts's groupOptions() is the same over a database handle, until planning takes the port.
 */
import type { RowScope } from '../catalog/query-port.js';
import type { GroupOptions } from './keep.js';
import type { Filters } from './filters.js';
import type { Scope } from './scope.js';
import type { VisiblePath } from './visible-path.js';

/** The rows a grouping query keeps for this scope. */
export function rowScope(scope: Scope): RowScope {
  return scope.active ? { kind: 'dirs', dirs: scope.entries } : { kind: 'all' };
}

/** How groups are seen: user-visible paths, and the filters when any look at paths. */
export function groupOptionsFor(
  toVisible: VisiblePath,
  filters: Filters,
  scope: Scope,
): GroupOptions {
  return {
    visible: (m) => toVisible(m.deviceId, m.path),
    ...(filters.active ? { reject: (m, v) => filters.reject(m, v) } : {}),
    ...(scope.active ? { inScope: (m) => scope.contains(m.deviceId, m.path) } : {}),
  };
}

/**
 * Split a page of groups into batches of at most `budget` paths (at least one group each), so
 * members are fetched in few calls without holding a page of large groups at once.
 */
export function* byPathBudget<T>(
  items: readonly T[],
  budget: number,
  pathsOf: (t: T) => number,
): Generator<T[], void, undefined> {
  let batch: T[] = [];
  let paths = 0;
  for (const it of items) {
    const n = pathsOf(it);
    if (batch.length > 0 && paths + n > budget) {
      yield batch;
      batch = [];
      paths = 0;
    }
    batch.push(it);
    paths += n;
  }
  if (batch.length > 0) yield batch;
}
