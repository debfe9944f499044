/** `conductor analyze` and `conductor status`: what the catalog says could be saved. */
import type { DB } from '../catalog/open.js';
import { deviceUsage, listDevices, type DeviceRow, type DeviceUsage } from '../catalog/devices.js';
import {
  crossGroupPage,
  emptyFileCounts,
  groupMembers,
  hardlinkStats,
  prepareCrossDeviceGroups,
  prepareSameDeviceGroups,
  sameGroupPage,
  type CrossKey,
  type GroupKey,
} from '../catalog/groups.js';
import { pendingCandidates } from '../catalog/hashing.js';
import { lastScanPerRoot, type LastScan } from '../catalog/scans.js';
import { catalogStats } from '../catalog/stats.js';
import { planSameDeviceGroup } from './keep.js';

export interface DeviceSummary {
  readonly device: DeviceRow;
  readonly usage: DeviceUsage | undefined;
}

export interface Analysis {
  readonly devices: DeviceSummary[];
  readonly sameDevice: {
    groups: number;
    bytesSaveable: number;
    pinnedInodes: number;
    /** Groups where nothing can be linked (every other copy pinned or with other owner/mode). */
    blockedGroups: number;
    top: GroupKey[];
  };
  readonly crossDevice: { groups: number; bytes: number; top: CrossKey[] } | undefined;
  readonly pending: number;
  readonly emptyFiles: number;
}

export function devicesOf(db: DB, only?: DeviceRow): DeviceSummary[] {
  const usage = deviceUsage(db);
  return listDevices(db)
    .filter((d) => !only || d.id === only.id)
    .map((d) => ({ device: d, usage: usage.get(d.id) }));
}

export function analyze(
  db: DB,
  opts: { device?: DeviceRow; crossDevice: boolean; limit: number },
): Analysis {
  const deviceId = opts.device?.id;
  const same = sameDeviceSavings(db, deviceId, opts.limit);
  let cross: Analysis['crossDevice'];
  if (opts.crossDevice) {
    const c = prepareCrossDeviceGroups(db, deviceId);
    cross = { ...c, top: crossGroupPage(db, 0, opts.limit) };
  }
  let empty = 0;
  for (const n of emptyFileCounts(db, deviceId).values()) empty += n;
  return {
    devices: devicesOf(db, opts.device),
    sameDevice: same,
    crossDevice: cross,
    pending: pendingCandidates(db),
    emptyFiles: empty,
  };
}

/**
 * Exact savings: every group is planned with the default keep rule, so analyze reports what a
 * plan would really free (pinned inodes and owner/mode mismatches excluded), in bounded memory.
 */
export function sameDeviceSavings(
  db: DB,
  deviceId: number | undefined,
  limit: number,
): Analysis['sameDevice'] {
  const est = prepareSameDeviceGroups(db, deviceId);
  const top: GroupKey[] = [];
  let groups = 0;
  let blocked = 0;
  let total = 0;
  for (let after = 0; ;) {
    const page = sameGroupPage(db, after, 500);
    if (page.length === 0) break;
    after = page[page.length - 1]!.rowId;
    for (const g of page) {
      // One owner/mode class: the SQL figure is exactly what the planner frees. Otherwise let
      // the planner decide which copies it may link.
      let saving = g.saveable;
      if (g.classes > 1) {
        saving = 0;
        const members = groupMembers(db, g.deviceId, g.sha256, g.size);
        for (const a of planSameDeviceGroup(members, 'most-linked')) saving += a.bytes;
      }
      if (saving === 0) {
        blocked++;
        continue;
      }
      groups++;
      total += saving;
      if (
        limit !== 0 &&
        (limit < 0 || top.length < limit || saving > top[top.length - 1]!.saveable)
      ) {
        top.push({ ...g, saveable: saving });
        top.sort((a, b) => b.saveable - a.saveable || a.rowId - b.rowId);
        if (limit >= 0 && top.length > limit) top.pop();
      }
    }
  }
  return {
    groups,
    bytesSaveable: total,
    pinnedInodes: est.pinnedInodes,
    blockedGroups: blocked,
    top,
  };
}

export interface Status {
  readonly devices: DeviceSummary[];
  readonly files: number;
  readonly inodes: number;
  readonly bytes: number;
  readonly hardlinks: { sharedPaths: number; inodes: number; bytesSaved: number };
  readonly bytesSaveable: number;
  readonly groups: number;
  readonly pending: number;
  readonly lastScans: LastScan[];
}

export function status(db: DB, device?: DeviceRow): Status {
  const devices = devicesOf(db, device);
  const same = sameDeviceSavings(db, device?.id, 0);
  let files = 0;
  let inodes = 0;
  let bytes = 0;
  if (device) {
    const u = devices[0]?.usage;
    files = u?.files ?? 0;
    inodes = u?.inodes ?? 0;
    bytes = u?.bytes ?? 0;
  } else {
    const s = catalogStats(db);
    files = s.activeFiles;
    inodes = s.activeInodes;
    bytes = s.activeBytes;
  }
  return {
    devices,
    files,
    inodes,
    bytes,
    hardlinks: hardlinkStats(db, device?.id),
    bytesSaveable: same.bytesSaveable,
    groups: same.groups,
    pending: pendingCandidates(db),
    lastScans: lastScanPerRoot(db).filter((s) => !device || s.deviceId === device.id),
  };
}
