/**
 * The whole catalog port (../port.ts) on PostgreSQL, over one connection: the scan, plan,
 * execute and query concerns, hosts and where they mount devices (each in its own module
 * here), the units of work, and where executor runs log. Opened by ../open-port.ts when --catalog (or HASHALL_CATALOG) is a
 * postgresql:// URL; this module and the `pg` driver load only then.
 */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Catalog } from '../port.js';
import { pgDeviceMountOps } from './device-mounts.js';
import { pgExecuteOps } from './execute.js';
import { pgHostOps } from './hosts.js';
import { connectPg } from './connect.js';
import { connectMigrated } from './migrate.js';
import { pgPlanOps } from './plan.js';
import { pgQueryOps } from './query.js';
import { pgScanOps } from './scan.js';
import { queuedClient } from './write-behind.js';

/**
 * A shared catalog has no file to log beside: each host logs in its own ~/.hashall/logs, the
 * catalog's location (never a password) hashed into the name so two catalogs' logs stay apart.
 */
function runLogsFor(location: string): { dir: string; tag: string } {
  return {
    dir: join(homedir(), '.hashall', 'logs'),
    tag: `-pg-${createHash('sha256').update(location).digest('hex').slice(0, 8)}`,
  };
}

export async function openPgPort(url: string): Promise<Catalog> {
  const conn = await connectMigrated(url);
  // One connection for every concern, its statements in order behind the scan's queued
  // writes (write-behind.ts).
  const client = queuedClient(conn.client);
  const location = conn.target.location;
  return {
    location,
    runLogs: runLogsFor(location),
    // The database is the server's: nothing of it lies in the trees this host scans.
    ownFiles: undefined,
    // A first scan's fold counts the device usage on a second connection (./stored-totals.ts);
    // the schema is this program's already, so that one only connects.
    ...pgScanOps(client, async () => (await connectPg(url)).client),
    ...pgPlanOps(client),
    ...pgExecuteOps(client),
    ...pgQueryOps(client),
    ...pgHostOps(client),
    ...pgDeviceMountOps(client),
    close: () => client.end(),
  };
}
