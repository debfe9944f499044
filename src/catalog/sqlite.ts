/**
 * The SQLite implementation of the catalog port: each concern's operations over one
 * better-sqlite3 connection. The connection answers synchronously; the port's promises
 * resolve at once (port.ts says why the port is asynchronous all the same).
 */
import type { Catalog } from './port.js';
import type { DB } from './open.js';
import { scanOps } from './scan-port.js';
import { executeOps } from './execute-port.js';
import { planOps } from './plan-port.js';
import { queryOps } from './query-port.js';

/**
 * The port plus the handle. Only src/catalog may see `db`: code outside it takes the port
 * type `Catalog`, which has no handle.
 */
export interface SqliteCatalog extends Catalog {
  readonly db: DB;
  /** The catalog file, as given or resolved (also `location`). */
  readonly path: string;
}

/** fn in one write transaction taken at once (no lock upgrade half-way); joins an open one. */
async function unitOfWork<T>(db: DB, fn: () => Promise<T>): Promise<T> {
  if (db.inTransaction) return fn();
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = await fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    // A COMMIT that failed (SQLITE_FULL) may have rolled back already.
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

export function sqliteCatalog(db: DB, path: string): SqliteCatalog {
  return {
    db,
    path,
    location: path,
    ...scanOps(db),
    ...planOps(db),
    ...executeOps(db),
    ...queryOps(db),
    unitOfWork: (fn) => unitOfWork(db, fn),
  };
}
