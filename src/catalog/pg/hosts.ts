/** The `hosts` table on PostgreSQL: the HostCatalog concern (../host-port.ts). */
import type pg from 'pg';
import type { HostCatalog, HostRow } from '../host-port.js';

/** bigint columns arrive as text from pg: ids and times fit a double exactly. */
interface RawHost {
  id: string;
  machine_id: string;
  hostname: string;
  first_seen_at: string;
  last_seen_at: string;
}

function toRow(r: RawHost): HostRow {
  return {
    id: Number(r.id),
    machineId: r.machine_id,
    hostname: r.hostname,
    firstSeenAt: Number(r.first_seen_at),
    lastSeenAt: Number(r.last_seen_at),
  };
}

export function pgHostOps(client: pg.Client): HostCatalog {
  return {
    hosts: {
      async register(s, at = Date.now()) {
        // ON CONFLICT makes the upsert atomic against another process of the same host.
        const r = await client.query<RawHost>(
          `INSERT INTO hosts (machine_id, hostname, first_seen_at, last_seen_at)
           VALUES ($1, $2, $3, $3)
           ON CONFLICT (machine_id) DO UPDATE
             SET hostname = EXCLUDED.hostname, last_seen_at = EXCLUDED.last_seen_at
           RETURNING *`,
          [s.machineId, s.hostname, at],
        );
        return toRow(r.rows[0]!);
      },
      async list() {
        const r = await client.query<RawHost>('SELECT * FROM hosts ORDER BY id');
        return r.rows.map(toRow);
      },
    },
  };
}
