/**
 * The scan concern of the catalog port (../scan-port.ts) on PostgreSQL, over one `pg.Client`,
 * with the semantics of the SQLite implementation (`scanOps`): scan records and devices
 * (records.ts), the tree merge (tree.ts), hashing (hashing.ts), and the transactions
 * (tx.ts): the walk's batching writer and the port's unit of work. Session state (parked rows,
 * hash jobs, read and failed inodes) lives in temporary tables of the connection, as SQLite's
 * lives in `temp`; so one connection serves one scan at a time.
 */
import type pg from 'pg';
import type { Catalog } from '../port.js';
import type { ScanCatalog } from '../scan-port.js';
import { pgHashingOps } from './hashing.js';
import { pgDeviceRecords, pgScanRecords } from './records.js';
import type { SecondConnection } from './stored-totals.js';
import { pgScanTree } from './tree.js';
import { pgScanWriter, pgUnitOfWork } from './tx.js';
import { queuedClient } from './write-behind.js';

/** The scan concern plus the port's unit of work, on one connection. */
export type PgScanCatalog = ScanCatalog & Pick<Catalog, 'unitOfWork'>;

/** `second`: another connection for a first scan's fold (./stored-totals.ts), if it may open one. */
export function pgScanOps(connection: pg.Client, second?: SecondConnection): PgScanCatalog {
  // Every statement in order behind what the walk writes behind it (write-behind.ts).
  const client = queuedClient(connection);
  return {
    scans: pgScanRecords(client, second),
    devices: pgDeviceRecords(client),
    hashing: pgHashingOps(client),
    tree: { open: (scanId) => pgScanTree(client, scanId) },
    scanWriter: (policy) => pgScanWriter(client, policy),
    unitOfWork: (fn) => pgUnitOfWork(client, fn),
  };
}
