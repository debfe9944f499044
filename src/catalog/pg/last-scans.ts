/** The most recent scan of every root on every host, on PostgreSQL (see ../last-scans.ts). */
import type pg from 'pg';
import { lastScansSql, toLastScan, type RawLastScan } from '../last-scans.js';
import type { LastScan } from '../scans.js';

export async function pgLastScansPerRootAndHost(client: pg.Client): Promise<LastScan[]> {
  // bytea orders bytewise, as SQLite's BLOB.
  const r = await client.query<RawLastScan & pg.QueryResultRow>(
    lastScansSql('IS NOT DISTINCT FROM'),
  );
  return r.rows.map(toLastScan);
}
