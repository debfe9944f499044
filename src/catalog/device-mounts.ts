/** `device_mounts` on SQLite: the DeviceMountCatalog concern (device-mount-port.ts). */
import { legacyIdentity } from '../device-identity.js';
import type { DB } from './db.js';
import type { DeviceRow, DeviceSighting } from './device-types.js';
import {
  placeDevice,
  type DeviceMount,
  type DeviceMountCatalog,
  type DeviceMountRow,
} from './device-mount-port.js';
import type { HostSighting } from './host-port.js';
import { registerHost } from './hosts.js';

interface RawMount {
  device_id: bigint;
  host_id: bigint;
  machine_id: string;
  hostname: string;
  mount_point: Buffer;
  mount_root: Buffer;
  st_dev: bigint;
  first_seen_at: bigint;
  last_seen_at: bigint;
}

const SELECT_MOUNTS = `SELECT m.device_id, m.host_id, h.machine_id, h.hostname, m.mount_point, m.mount_root,
                              m.st_dev, m.first_seen_at, m.last_seen_at
                         FROM device_mounts m JOIN hosts h ON h.id = m.host_id`;

function toMount(r: RawMount): DeviceMount {
  return {
    hostId: Number(r.host_id),
    machineId: r.machine_id,
    hostname: r.hostname,
    mountPoint: r.mount_point,
    mountRoot: r.mount_root,
    stDev: r.st_dev,
    firstSeenAt: Number(r.first_seen_at),
    lastSeenAt: Number(r.last_seen_at),
  };
}

/** Every device's mounts, most recently seen first (the table holds a row per host and device). */
function mountsByDevice(db: DB, deviceId?: number): Map<number, DeviceMount[]> {
  const rows = (
    deviceId === undefined
      ? db.prepare(`${SELECT_MOUNTS} ORDER BY m.last_seen_at DESC, m.host_id`)
      : db.prepare(`${SELECT_MOUNTS} WHERE m.device_id = ? ORDER BY m.last_seen_at DESC, m.host_id`)
  )
    .safeIntegers(true)
    .all(...(deviceId === undefined ? [] : [deviceId])) as RawMount[];
  const out = new Map<number, DeviceMount[]>();
  for (const r of rows) {
    const id = Number(r.device_id);
    let list = out.get(id);
    if (!list) out.set(id, (list = []));
    list.push(toMount(r));
  }
  return out;
}

/** Device rows with the hosts that mount them. */
export function withMounts(db: DB, rows: DeviceRow[]): DeviceRow[] {
  if (rows.length === 0) return rows;
  const by = mountsByDevice(db, rows.length === 1 ? rows[0]!.id : undefined);
  return rows.map((d) => ({ ...d, mounts: by.get(d.id) ?? [] }));
}

/**
 * A device row of a catalog from before hosts, under the bare device number a host now
 * qualifies (`dev:0:52` for `dev:0:52@M`): it becomes this host's, keeping its id and rows.
 * Called inside the registration's write transaction.
 */
export function adoptLegacyDevice(db: DB, identity: string): boolean {
  const legacy = legacyIdentity(identity);
  if (!legacy) return false;
  return (
    db.prepare('UPDATE devices SET identity = ? WHERE identity = ?').run(identity, legacy).changes >
    0
  );
}

/** Record where `host` sees the device now (inside the registration's transaction). */
export function recordMount(
  db: DB,
  p: { deviceId: number; host: HostSighting; sighting: DeviceSighting; at: number },
): void {
  const host = registerHost(db, p.host, p.at);
  db.prepare(
    `INSERT INTO device_mounts (host_id, device_id, mount_point, mount_root, st_dev, first_seen_at, last_seen_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (host_id, device_id) DO UPDATE
       SET mount_point = excluded.mount_point, mount_root = excluded.mount_root,
           st_dev = excluded.st_dev, last_seen_at = excluded.last_seen_at`,
  ).run(
    host.id,
    p.deviceId,
    p.sighting.mountPoint,
    p.sighting.mountRoot,
    p.sighting.stDev,
    p.at,
    p.at,
  );
}

export function deviceMountOps(db: DB): DeviceMountCatalog {
  return {
    deviceMounts: {
      list() {
        const rows = db
          .prepare(
            `SELECT m.device_id, m.host_id, h.machine_id, h.hostname, m.mount_point, m.mount_root,
                    m.st_dev, m.first_seen_at, m.last_seen_at, d.alias, d.identity, d.fs_type,
                    (SELECT max(finished_at) FROM scans s
                      WHERE s.device_id = m.device_id AND s.status = 'completed'
                        -- this host's scans (and those from before hosts: its own, adopted)
                        AND NOT EXISTS (SELECT 1 FROM scan_hosts sh
                                         WHERE sh.scan_id = s.id AND sh.host_id <> m.host_id)) AS last_scan_at
               FROM device_mounts m JOIN hosts h ON h.id = m.host_id JOIN devices d ON d.id = m.device_id
              ORDER BY m.host_id, m.device_id`,
          )
          .safeIntegers(true)
          .all() as (RawMount & {
          alias: string;
          identity: string;
          fs_type: string;
          last_scan_at: bigint | null;
        })[];
        return Promise.resolve(
          rows.map((r): DeviceMountRow => ({
            ...toMount(r),
            deviceId: Number(r.device_id),
            alias: r.alias,
            identity: r.identity,
            fsType: r.fs_type,
            lastScanAt: r.last_scan_at === null ? null : Number(r.last_scan_at),
          })),
        );
      },
      ofPlan(planId) {
        const rows = db
          .prepare(
            `SELECT device_id AS id FROM conductor_actions WHERE plan_id = ? AND action_type = 'HARDLINK'
             UNION
             SELECT source_device_id FROM conductor_actions WHERE plan_id = ? AND action_type = 'HARDLINK'
             ORDER BY 1`,
          )
          .all(planId, planId) as { id: number }[];
        return Promise.resolve(rows.map((r) => r.id));
      },
      placement({ machineId, deviceIds }) {
        const by = mountsByDevice(db);
        const get = db.prepare('SELECT id, alias, identity, fs_type FROM devices WHERE id = ?');
        const out = [];
        for (const id of deviceIds) {
          const d = get.get(id) as
            { id: number; alias: string; identity: string; fs_type: string } | undefined;
          if (!d) continue;
          out.push(placeDevice({ ...d, fsType: d.fs_type }, by.get(id) ?? [], machineId));
        }
        return Promise.resolve(out);
      },
    },
  };
}
