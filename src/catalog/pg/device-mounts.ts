/**
 * `device_mounts` on PostgreSQL: the DeviceMountCatalog concern (../device-mount-port.ts), and
 * what device registration writes there, with the semantics of ../device-mounts.ts.
 */
import type pg from 'pg';
import { legacyIdentity } from '../../device-identity.js';
import type { DeviceRow, DeviceSighting } from '../devices.js';
import {
  placeDevice,
  type DeviceMount,
  type DeviceMountCatalog,
  type DeviceMountRow,
} from '../device-mount-port.js';
import type { HostSighting } from '../host-port.js';

/** int8 columns arrive as text: ids and times fit a double; st_dev is a BigInt. */
interface RawMount {
  device_id: string;
  host_id: string;
  machine_id: string;
  hostname: string;
  mount_point: Buffer;
  mount_root: Buffer;
  st_dev: string;
  first_seen_at: string;
  last_seen_at: string;
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
    stDev: BigInt(r.st_dev),
    firstSeenAt: Number(r.first_seen_at),
    lastSeenAt: Number(r.last_seen_at),
  };
}

async function mountsByDevice(
  client: pg.Client,
  deviceIds?: readonly number[],
): Promise<Map<number, DeviceMount[]>> {
  const r =
    deviceIds === undefined
      ? await client.query<RawMount>(`${SELECT_MOUNTS} ORDER BY m.last_seen_at DESC, m.host_id`)
      : await client.query<RawMount>(
          `${SELECT_MOUNTS} WHERE m.device_id = ANY($1::bigint[]) ORDER BY m.last_seen_at DESC, m.host_id`,
          [deviceIds],
        );
  const out = new Map<number, DeviceMount[]>();
  for (const row of r.rows) {
    const id = Number(row.device_id);
    let list = out.get(id);
    if (!list) out.set(id, (list = []));
    list.push(toMount(row));
  }
  return out;
}

/** Device rows with the hosts that mount them (one query). */
export async function pgWithMounts(client: pg.Client, rows: DeviceRow[]): Promise<DeviceRow[]> {
  if (rows.length === 0) return rows;
  const by = await mountsByDevice(
    client,
    rows.map((d) => d.id),
  );
  return rows.map((d) => ({ ...d, mounts: by.get(d.id) ?? [] }));
}

/** A pre-hosts row under the bare device number of a qualified identity becomes this host's. */
export async function pgAdoptLegacyDevice(client: pg.Client, identity: string): Promise<void> {
  const legacy = legacyIdentity(identity);
  if (!legacy) return;
  await client.query('UPDATE devices SET identity = $1 WHERE identity = $2', [identity, legacy]);
}

/** Register the host and record where it sees the device (inside the registration's unit). */
export async function pgRecordMount(
  client: pg.Client,
  p: { deviceId: number; host: HostSighting; sighting: DeviceSighting; at: number },
): Promise<void> {
  // One statement: the host's upsert and its mount (a data-modifying CTE).
  await client.query(
    `WITH h AS (
       INSERT INTO hosts (machine_id, hostname, first_seen_at, last_seen_at) VALUES ($1, $2, $7, $7)
       ON CONFLICT (machine_id) DO UPDATE
         SET hostname = EXCLUDED.hostname, last_seen_at = EXCLUDED.last_seen_at
       RETURNING id)
     INSERT INTO device_mounts (host_id, device_id, mount_point, mount_root, st_dev, first_seen_at, last_seen_at)
     SELECT h.id, $3, $4, $5, $6, $7, $7 FROM h
     ON CONFLICT (host_id, device_id) DO UPDATE
       SET mount_point = EXCLUDED.mount_point, mount_root = EXCLUDED.mount_root,
           st_dev = EXCLUDED.st_dev, last_seen_at = EXCLUDED.last_seen_at`,
    [
      p.host.machineId,
      p.host.hostname,
      p.deviceId,
      p.sighting.mountPoint,
      p.sighting.mountRoot,
      p.sighting.stDev,
      p.at,
    ],
  );
}

export function pgDeviceMountOps(client: pg.Client): DeviceMountCatalog {
  return {
    deviceMounts: {
      async list() {
        const r = await client.query<
          RawMount & {
            alias: string;
            identity: string;
            fs_type: string;
            last_scan_at: string | null;
          }
        >(
          `SELECT m.device_id, m.host_id, h.machine_id, h.hostname, m.mount_point, m.mount_root,
                  m.st_dev, m.first_seen_at, m.last_seen_at, d.alias, d.identity, d.fs_type,
                  (SELECT max(finished_at) FROM scans s
                    WHERE s.device_id = m.device_id AND s.status = 'completed'
                        -- this host's scans (and those from before hosts: its own, adopted)
                        AND NOT EXISTS (SELECT 1 FROM scan_hosts sh
                                         WHERE sh.scan_id = s.id AND sh.host_id <> m.host_id)) AS last_scan_at
             FROM device_mounts m JOIN hosts h ON h.id = m.host_id JOIN devices d ON d.id = m.device_id
            ORDER BY m.host_id, m.device_id`,
        );
        return r.rows.map((row): DeviceMountRow => ({
          ...toMount(row),
          deviceId: Number(row.device_id),
          alias: row.alias,
          identity: row.identity,
          fsType: row.fs_type,
          lastScanAt: row.last_scan_at === null ? null : Number(row.last_scan_at),
        }));
      },
      async ofPlan(planId) {
        const r = await client.query<{ id: string }>(
          `SELECT device_id AS id FROM conductor_actions WHERE plan_id = $1 AND action_type = 'HARDLINK'
           UNION
           SELECT source_device_id FROM conductor_actions WHERE plan_id = $1 AND action_type = 'HARDLINK'
           ORDER BY 1`,
          [planId],
        );
        return r.rows.map((row) => Number(row.id));
      },
      async placement({ machineId, deviceIds }) {
        const devices = await client.query<{
          id: string;
          alias: string;
          identity: string;
          fs_type: string;
        }>(
          'SELECT id, alias, identity, fs_type FROM devices WHERE id = ANY($1::bigint[]) ORDER BY id',
          [deviceIds],
        );
        const by = await mountsByDevice(client, deviceIds);
        const found = new Map(devices.rows.map((d) => [Number(d.id), d]));
        return deviceIds.flatMap((id) => {
          const d = found.get(id);
          if (!d) return [];
          return [
            placeDevice(
              { id, alias: d.alias, identity: d.identity, fsType: d.fs_type },
              by.get(id) ?? [],
              machineId,
            ),
          ];
        });
      },
    },
  };
}
