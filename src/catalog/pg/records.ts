/**
 * The scan records and devices of a PostgreSQL catalog: ScanRecords and DeviceRecords of the
 * scan port (../scan-port.ts), with the semantics of ../scans.ts and ../devices.ts. int8
 * columns arrive as text from pg: ids and times fit a double; st_dev is a BigInt as SQLite's.
 */
import type pg from 'pg';
import { UserError } from '../../errors.js';
import { usageWithLastScans, type DeviceRow, type DeviceSighting } from '../devices.js';
import type { RunningScan, ScanStatus } from '../scans.js';
import type { DeviceRecords, ScanRecords } from '../scan-port.js';
import { pgUnitOfWork } from './tx.js';
import { foldPgStoredTotals, pgStoredUsage, type SecondConnection } from './stored-totals.js';
import { pgLastScansPerRootAndHost } from './last-scans.js';
import { pgAdoptLegacyDevice, pgRecordMount, pgWithMounts } from './device-mounts.js';

interface RawDevice {
  id: string;
  identity: string;
  identity_stable: string;
  alias: string;
  fs_type: string;
  st_dev: string;
  mount_point: Buffer;
  mount_root: Buffer;
  first_seen_at: string;
  last_seen_at: string;
}

function toDevice(r: RawDevice): DeviceRow {
  return {
    id: Number(r.id),
    identity: r.identity,
    identityStable: r.identity_stable !== '0',
    alias: r.alias,
    fsType: r.fs_type,
    stDev: BigInt(r.st_dev),
    mountPoint: r.mount_point,
    mountRoot: r.mount_root,
    firstSeenAt: Number(r.first_seen_at),
    lastSeenAt: Number(r.last_seen_at),
  };
}

const ALIAS_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The base of a new device's alias: '/pool' → 'pool', '/' → 'root' (as ../devices.ts). */
function aliasBase(mountPoint: Buffer): string {
  const last = mountPoint.toString('utf8').split('/').filter(Boolean).pop() ?? 'root';
  let base = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  if (!base) base = 'fs';
  return base.slice(0, 56);
}

/** The first of base, base-2, base-3… no device uses, from one query. */
async function freeAlias(client: pg.Client, base: string): Promise<string> {
  const r = await client.query<{ alias: string }>(
    `SELECT alias FROM devices WHERE alias = $1 OR left(alias, $2) = $3`,
    [base, base.length + 1, `${base}-`],
  );
  const taken = new Set(r.rows.map((row) => row.alias));
  let alias = base;
  for (let n = 2; taken.has(alias); n++) alias = `${base}-${n}`;
  return alias;
}

async function deviceWhere(
  client: pg.Client,
  where: string,
  value: unknown,
): Promise<DeviceRow | undefined> {
  const r = await client.query<RawDevice>(`SELECT * FROM devices WHERE ${where} = $1`, [value]);
  return r.rows[0] ? (await pgWithMounts(client, [toDevice(r.rows[0])]))[0] : undefined;
}

async function registerLocked(client: pg.Client, s: DeviceSighting): Promise<DeviceRow> {
  const now = Date.now();
  if (s.host) await pgAdoptLegacyDevice(client, s.identity);
  const withMount = async (row: RawDevice): Promise<DeviceRow> => {
    const d = toDevice(row);
    if (!s.host) return d;
    await pgRecordMount(client, { deviceId: d.id, host: s.host, sighting: s, at: now });
    return (await pgWithMounts(client, [d]))[0]!;
  };
  // A new st_dev or mount point for a known identity is an update of that device.
  const upd = await client.query<RawDevice>(
    `UPDATE devices SET st_dev = $2, fs_type = $3, mount_point = $4, mount_root = $5, last_seen_at = $6
      WHERE identity = $1 RETURNING *`,
    [s.identity, s.stDev, s.fsType, s.mountPoint, s.mountRoot, now],
  );
  if (upd.rows[0]) return withMount(upd.rows[0]);
  const alias = await freeAlias(client, aliasBase(s.mountPoint));
  const ins = await client.query<RawDevice>(
    `INSERT INTO devices (identity, identity_stable, alias, fs_type, st_dev, mount_point, mount_root,
                          first_seen_at, last_seen_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *`,
    [s.identity, s.stable ? 1 : 0, alias, s.fsType, s.stDev, s.mountPoint, s.mountRoot, now],
  );
  return withMount(ins.rows[0]!);
}

export function pgDeviceRecords(client: pg.Client): DeviceRecords {
  return {
    // Look-up and insert under one table lock (another host's scan meeting a new filesystem
    // at once waits), as SQLite's BEGIN IMMEDIATE; joins a unit of work already open.
    register: (s) =>
      pgUnitOfWork(client, async () => {
        await client.query('LOCK TABLE devices IN SHARE ROW EXCLUSIVE MODE');
        return registerLocked(client, s);
      }),
    async list() {
      const r = await client.query<RawDevice>('SELECT * FROM devices ORDER BY id');
      return pgWithMounts(client, r.rows.map(toDevice));
    },
    findByAlias: (alias) => deviceWhere(client, 'alias', alias),
    async rename({ from, to }) {
      const dev = await deviceWhere(client, 'alias', from);
      if (!dev) throw new UserError(`no device with alias '${from}'; 'hashall devices' lists them`);
      if (!ALIAS_RE.test(to)) {
        throw new UserError(
          `alias '${to}' is not valid: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
        );
      }
      const other = await deviceWhere(client, 'alias', to);
      if (other && other.id !== dev.id)
        throw new UserError(`alias '${to}' is already used by device ${other.identity}`);
      const r = await client.query<RawDevice>(
        'UPDATE devices SET alias = $1 WHERE id = $2 RETURNING *',
        [to, dev.id],
      );
      return (await pgWithMounts(client, [toDevice(r.rows[0]!)]))[0]!;
    },
    async usage() {
      // Stored per device, dirty devices counted live (./stored-totals.ts).
      const rows = await pgStoredUsage(client);
      const scans = await client.query<{ device_id: string; at: string }>(
        `SELECT device_id, max(finished_at) AS at FROM scans
          WHERE status = 'completed' AND device_id IS NOT NULL GROUP BY device_id`,
      );
      const lastScan = new Map(scans.rows.map((r) => [Number(r.device_id), Number(r.at)]));
      return usageWithLastScans(rows, lastScan);
    },
  };
}

interface RawScan {
  id: string;
  root: Buffer;
  started_at: string;
  finished_at: string | null;
  status: ScanStatus;
  device_id: string | null;
  pid: string | null;
  pid_start_time: string | null;
  machine_id?: string | null;
}

const numOrNull = (v: string | null): number | null => (v === null ? null : Number(v));

/**
 * `second`: how to open another connection to the catalog, for a first scan's fold to count
 * the device usage beside the groups (./stored-totals.ts); without it the fold runs on `client`.
 */
export function pgScanRecords(client: pg.Client, second?: SecondConnection): ScanRecords {
  return {
    async running(): Promise<RunningScan[]> {
      const r = await client.query<RawScan>(
        `SELECT s.id, s.root, s.started_at, s.pid, s.pid_start_time, h.machine_id
           FROM scans s LEFT JOIN scan_hosts sh ON sh.scan_id = s.id LEFT JOIN hosts h ON h.id = sh.host_id
          WHERE s.status = 'running' ORDER BY s.id`,
      );
      return r.rows.map((s) => ({
        id: Number(s.id),
        root: s.root,
        startedAt: Number(s.started_at),
        pid: numOrNull(s.pid),
        pidStartTime: s.pid_start_time,
        machineId: s.machine_id ?? null,
      }));
    },
    async markInterrupted(id) {
      await client.query(
        `UPDATE scans SET status = 'interrupted' WHERE id = $1 AND status = 'running'`,
        [id],
      );
    },
    async start({ root, owner }) {
      const now = Date.now();
      // The host's upsert and the scan in one statement (a data-modifying CTE).
      const r = owner.host
        ? await client.query<{ id: string }>(
            `WITH h AS (
               INSERT INTO hosts (machine_id, hostname, first_seen_at, last_seen_at)
               VALUES ($5, $6, $2, $2)
               ON CONFLICT (machine_id) DO UPDATE
                 SET hostname = EXCLUDED.hostname, last_seen_at = EXCLUDED.last_seen_at
               RETURNING id),
             s AS (
               INSERT INTO scans (root, started_at, status, pid, pid_start_time)
               VALUES ($1, $2, 'running', $3, $4) RETURNING id)
             INSERT INTO scan_hosts (scan_id, host_id) SELECT s.id, h.id FROM s, h
             RETURNING scan_id AS id`,
            [root, now, owner.pid, owner.startTime, owner.host.machineId, owner.host.hostname],
          )
        : await client.query<{ id: string }>(
            `INSERT INTO scans (root, started_at, status, pid, pid_start_time)
             VALUES ($1, $2, 'running', $3, $4) RETURNING id`,
            [root, now, owner.pid, owner.startTime],
          );
      return Number(r.rows[0]!.id);
    },
    async setRoot({ scanId, deviceId, fsPath }) {
      await client.query('UPDATE scans SET device_id = $1, fs_path = $2 WHERE id = $3', [
        deviceId,
        fsPath,
        scanId,
      ]);
    },
    async finish({ scanId, status, summary }) {
      await client.query(
        'UPDATE scans SET status = $1, finished_at = $2, summary = $3 WHERE id = $4',
        [status, Date.now(), JSON.stringify(summary), scanId],
      );
      // A completed scan brings the stored totals up to date, so that analyze reads them
      // instead of regrouping what the scan changed (./stored-totals.ts).
      if (status === 'completed') await foldPgStoredTotals(client, second ? { second } : {});
    },
    lastPerRoot: () => pgLastScansPerRootAndHost(client),
  };
}
