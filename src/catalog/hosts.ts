/** The `hosts` table on SQLite: the HostCatalog concern (host-port.ts). */
import type { DB } from './open.js';
import type { HostCatalog, HostRow } from './host-port.js';

interface RawHost {
  id: number;
  machine_id: string;
  hostname: string;
  first_seen_at: number;
  last_seen_at: number;
}

function toRow(r: RawHost): HostRow {
  return {
    id: r.id,
    machineId: r.machine_id,
    hostname: r.hostname,
    firstSeenAt: r.first_seen_at,
    lastSeenAt: r.last_seen_at,
  };
}

export function hostOps(db: DB): HostCatalog {
  return {
    hosts: {
      register(s, at = Date.now()) {
        // One statement: the upsert is atomic against another process registering too.
        const r = db
          .prepare(
            `INSERT INTO hosts (machine_id, hostname, first_seen_at, last_seen_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (machine_id) DO UPDATE
               SET hostname = excluded.hostname, last_seen_at = excluded.last_seen_at
             RETURNING *`,
          )
          .get(s.machineId, s.hostname, at, at) as RawHost;
        return Promise.resolve(toRow(r));
      },
      list() {
        const rows = db.prepare('SELECT * FROM hosts ORDER BY id').all() as RawHost[];
        return Promise.resolve(rows.map(toRow));
      },
    },
  };
}
