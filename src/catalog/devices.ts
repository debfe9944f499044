/** The `devices` table: one row per filesystem identity (DESIGN §2). */
import { UserError } from '../errors.js';
import type { DB } from './db.js';
import { stmt } from './stmt.js';
import { USAGE_OF, type UsageRow } from './usage-query.js';
import type { DeviceRow, DeviceSighting } from './device-types.js';
import { adoptLegacyDevice, recordMount, withMounts } from './device-mounts.js';

export type { DeviceRow, DeviceSighting } from './device-types.js';

interface RawDevice {
  id: bigint;
  identity: string;
  identity_stable: bigint;
  alias: string;
  fs_type: string;
  st_dev: bigint;
  mount_point: Buffer;
  mount_root: Buffer;
  first_seen_at: bigint;
  last_seen_at: bigint;
}

function toRow(r: RawDevice): DeviceRow {
  return {
    id: Number(r.id),
    identity: r.identity,
    identityStable: r.identity_stable !== 0n,
    alias: r.alias,
    fsType: r.fs_type,
    stDev: r.st_dev,
    mountPoint: r.mount_point,
    mountRoot: r.mount_root,
    firstSeenAt: Number(r.first_seen_at),
    lastSeenAt: Number(r.last_seen_at),
  };
}

const ALIAS_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A short alias from the mount point: '/pool' → 'pool', '/' → 'root'. */
function suggestAlias(db: DB, mountPoint: Buffer): string {
  const last = mountPoint.toString('utf8').split('/').filter(Boolean).pop() ?? 'root';
  let base = last.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  if (!base) base = 'fs';
  base = base.slice(0, 56);
  const taken = db.prepare('SELECT 1 FROM devices WHERE alias = ?');
  let alias = base;
  for (let n = 2; taken.get(alias); n++) alias = `${base}-${n}`;
  return alias;
}

export function getDeviceByIdentity(db: DB, identity: string): DeviceRow | undefined {
  const r = db.prepare('SELECT * FROM devices WHERE identity = ?').safeIntegers(true).get(identity);
  return r ? withMounts(db, [toRow(r as RawDevice)])[0] : undefined;
}

export function getDevice(db: DB, id: number): DeviceRow | undefined {
  const r = db.prepare('SELECT * FROM devices WHERE id = ?').safeIntegers(true).get(id);
  return r ? withMounts(db, [toRow(r as RawDevice)])[0] : undefined;
}

export function listDevices(db: DB): DeviceRow[] {
  return withMounts(
    db,
    (db.prepare('SELECT * FROM devices ORDER BY id').safeIntegers(true).all() as RawDevice[]).map(
      toRow,
    ),
  );
}

/**
 * Register a filesystem seen during a scan, or refresh a known one. A new st_dev or mount
 * point for a known identity is an update of that device, never a second device.
 */
export function registerDevice(db: DB, s: DeviceSighting, now = Date.now()): DeviceRow {
  // Look-up and insert under one write lock: two scans meeting a new filesystem at once must
  // not both insert it.
  return db.transaction(() => registerDeviceLocked(db, s, now)).immediate();
}

function registerDeviceLocked(db: DB, s: DeviceSighting, now: number): DeviceRow {
  if (s.host) adoptLegacyDevice(db, s.identity);
  const known = getDeviceByIdentity(db, s.identity);
  if (known) {
    db.prepare(
      `UPDATE devices SET st_dev = ?, fs_type = ?, mount_point = ?, mount_root = ?, last_seen_at = ?
        WHERE id = ?`,
    ).run(s.stDev, s.fsType, s.mountPoint, s.mountRoot, now, known.id);
    if (s.host) recordMount(db, { deviceId: known.id, host: s.host, sighting: s, at: now });
    return getDevice(db, known.id)!;
  }
  const alias = suggestAlias(db, s.mountPoint);
  const info = db
    .prepare(
      `INSERT INTO devices (identity, identity_stable, alias, fs_type, st_dev, mount_point, mount_root,
                            first_seen_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      s.identity,
      s.stable ? 1 : 0,
      alias,
      s.fsType,
      s.stDev,
      s.mountPoint,
      s.mountRoot,
      now,
      now,
    );
  const id = Number(info.lastInsertRowid);
  if (s.host) recordMount(db, { deviceId: id, host: s.host, sighting: s, at: now });
  return getDevice(db, id)!;
}

export function findDeviceByAlias(db: DB, alias: string): DeviceRow | undefined {
  const r = db.prepare('SELECT * FROM devices WHERE alias = ?').safeIntegers(true).get(alias);
  return r ? withMounts(db, [toRow(r as RawDevice)])[0] : undefined;
}

export function renameDeviceAlias(db: DB, oldAlias: string, newAlias: string): DeviceRow {
  const dev = findDeviceByAlias(db, oldAlias);
  if (!dev) throw new UserError(`no device with alias '${oldAlias}'; 'hashall devices' lists them`);
  if (!ALIAS_RE.test(newAlias)) {
    throw new UserError(
      `alias '${newAlias}' is not valid: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  const other = findDeviceByAlias(db, newAlias);
  if (other && other.id !== dev.id)
    throw new UserError(`alias '${newAlias}' is already used by device ${other.identity}`);
  db.prepare('UPDATE devices SET alias = ? WHERE id = ?').run(newAlias, dev.id);
  return getDevice(db, dev.id)!;
}

export interface DeviceUsage {
  readonly deviceId: number;
  readonly files: number;
  readonly inodes: number;
  readonly bytes: number;
  /** st_blocks × 512 over the inodes: less than `bytes` for sparse files. */
  readonly allocatedBytes: number;
  readonly lastScanAt: number | null;
}

/** Active paths, distinct inodes and their bytes (each inode once), per device. */
export function deviceUsage(db: DB): Map<number, DeviceUsage> {
  return usageOfRows(db, stmt(db, USAGE_OF('')).all() as UsageRow[]);
}

/** Usage rows (counted by USAGE_OF, or stored) with each device's last completed scan. */
export function usageOfRows(db: DB, rows: readonly UsageRow[]): Map<number, DeviceUsage> {
  const scans = new Map(
    (
      stmt(
        db,
        `SELECT device_id, max(finished_at) AS at FROM scans WHERE status = 'completed' GROUP BY device_id`,
      ).all() as { device_id: number; at: number }[]
    ).map((r) => [r.device_id, r.at]),
  );
  return usageWithLastScans(
    rows.map((r) => ({
      deviceId: r.device_id,
      files: r.files,
      inodes: r.inodes,
      bytes: r.bytes,
      allocatedBytes: r.allocated,
    })),
    scans,
  );
}

/**
 * Per-device usage with each device's last completed scan; a device scanned but holding no
 * active file still appears, with zeros (both backends build their rows, then this).
 */
export function usageWithLastScans(
  rows: readonly Omit<DeviceUsage, 'lastScanAt'>[],
  lastScan: ReadonlyMap<number, number>,
): Map<number, DeviceUsage> {
  const out = new Map<number, DeviceUsage>();
  for (const r of rows) out.set(r.deviceId, { ...r, lastScanAt: lastScan.get(r.deviceId) ?? null });
  for (const [id, at] of lastScan) {
    if (!out.has(id))
      out.set(id, {
        deviceId: id,
        files: 0,
        inodes: 0,
        bytes: 0,
        allocatedBytes: 0,
        lastScanAt: at,
      });
  }
  return out;
}
