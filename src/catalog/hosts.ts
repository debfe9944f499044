/** The `hosts` table on SQLite: the HostCatalog concern (host-port.ts). */
import type { DB } from './db.js';
import type { HostCatalog, HostRow, HostSighting } from './host-port.js';

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

/**
 * Register a host or refresh it (see HostCatalog.hosts.register). One statement: the upsert is
 * atomic against another process registering too. Device registration calls it too.
 */
export function registerHost(db: DB, s: HostSighting, at = Date.now()): HostRow {
  const r = db
    .prepare(
      `INSERT INTO hosts (machine_id, hostname, first_seen_at, last_seen_at)
       VALUES (?, ?, ?, ?)
       ON CONFLICT (machine_id) DO UPDATE
         SET hostname = excluded.hostname, last_seen_at = excluded.last_seen_at
       RETURNING *`,
    )
    .get(s.machineId, s.hostname, at, at) as RawHost;
  return toRow(r);
}

export function hostOps(db: DB): HostCatalog {
  return {
    hosts: {
      register(s, at = Date.now()) {
        return Promise.resolve(registerHost(db, s, at));
      },
      list() {
        const rows = db.prepare('SELECT * FROM hosts ORDER BY id').all() as RawHost[];
        return Promise.resolve(rows.map(toRow));
      },
    },
  };
}
