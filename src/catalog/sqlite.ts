/**
 * The SQLite implementation of the catalog port: each concern's operations over one
 * better-sqlite3 connection. The connection answers synchronously; the port's promises
 * resolve at once (port.ts says why the port is asynchronous all the same).
 */
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { Catalog } from './port.js';
import { defaultCatalogPath } from './location.js';
import type { DB } from './db.js';
import { scanOps } from './scan-port.js';
import { executeOps } from './execute-port.js';
import { planSqlite } from './plan-sqlite.js';
import { queryOps } from './query-port.js';
import { hostOps } from './hosts.js';
import { deviceMountOps } from './device-mounts.js';
import { WalCheckpointer } from './checkpointer.js';

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

/**
 * Logs go to `logs/` beside the catalog file. Several catalogs may share a directory (and so
 * `logs/`): a short hash of the catalog's path keeps their logs apart; the default catalog's
 * logs keep the plain name.
 */
function runLogsBeside(path: string): { dir: string; tag: string } {
  const tag =
    path === defaultCatalogPath()
      ? ''
      : `-${createHash('sha256').update(path).digest('hex').slice(0, 8)}`;
  return { dir: join(dirname(path), 'logs'), tag };
}

export function sqliteCatalog(db: DB, path: string): SqliteCatalog {
  const checkpointer = new WalCheckpointer(db);
  return {
    db,
    path,
    location: path,
    runLogs: runLogsBeside(path),
    ownFiles: {
      dir: dirname(path),
      names: ['', '-wal', '-shm', '-journal'].map((suffix) => basename(path) + suffix),
    },
    ...scanOps(db, checkpointer),
    ...planSqlite(db),
    ...executeOps(db, checkpointer),
    ...queryOps(db),
    ...hostOps(db),
    ...deviceMountOps(db),
    unitOfWork: (fn) => unitOfWork(db, fn),
    // async: a failure to close is a rejection, as on any other backend.
    close: async () => {
      await checkpointer.stop();
      db.close();
    },
  };
}
