/**
 * How the read side (analyze, dupes) reads groups through the catalog port: the scope as the
 * rows a query keeps, and pages of groups split into batches whose members come in one call.
 */
import type { RowScope } from '../catalog/query-port.js';
import type { Scope } from './scope.js';

/** The rows a grouping query keeps for this scope. */
export function rowScope(scope: Scope): RowScope {
  return scope.active ? { kind: 'dirs', dirs: scope.entries } : { kind: 'all' };
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
