/** `conductor analyze` and `conductor status`: what the catalog says could be saved. */
import type { DB } from '../catalog/open.js';
import { deviceUsage, listDevices, type DeviceRow, type DeviceUsage } from '../catalog/devices.js';
import {
  crossGroupPage,
  contentMembers,
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
import { planCrossDeviceGroup, planSameDeviceGroup, type GroupOptions } from './keep.js';
import { DEFAULT_KEEP, type KeepRule } from './keep-rules.js';
import { Filters } from './filters.js';
import { groupOptions } from './plan.js';
import { restrictToScope } from '../catalog/scope.js';
import { Scope } from './scope.js';

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
  opts: {
    device?: DeviceRow;
    crossDevice: boolean;
    limit: number;
    keep?: readonly KeepRule[];
    filters?: Filters;
    /** Only paths at or below these directories (default: everything). */
    scope?: Scope;
  },
): Analysis {
  const deviceId = opts.device?.id;
  const filters = opts.filters ?? Filters.none;
  const scope = opts.scope ?? Scope.all;
  const scoped = restrictToScope(db, scope.entries);
  const planning =
    filters.active || opts.keep?.length || scoped
      ? {
          keep: opts.keep ?? DEFAULT_KEEP,
          filters,
          group: groupOptions({ devices: listDevices(db), filters, scope }),
          scoped,
        }
      : undefined;
  const same = sameDeviceSavings(db, deviceId, opts.limit, planning);
  let cross: Analysis['crossDevice'];
  if (opts.crossDevice) {
    const c = prepareCrossDeviceGroups(db, deviceId, scoped);
    cross =
      filters.active || scoped
        ? filteredCrossDevice(db, deviceId, opts.limit, filters, planning!.group)
        : { ...c, top: crossGroupPage(db, 0, opts.limit) };
  }
  let empty = 0;
  for (const n of emptyFileCounts(db, deviceId, scoped).values()) empty += n;
  const inScope = new Set(scope.deviceIds);
  return {
    devices: devicesOf(db, opts.device).filter((d) => !scoped || inScope.has(d.device.id)),
    sameDevice: same,
    crossDevice: cross,
    pending: pendingCandidates(db),
    emptyFiles: empty,
  };
}

/** Keep rules and filters a plan would be made with (analyze's --keep and filters). */
export interface Planning {
  readonly keep: readonly KeepRule[];
  readonly filters: Filters;
  readonly group: GroupOptions;
  /** Rows limited to temp.scope_dirs (analyze with PATHs). */
  readonly scoped?: boolean;
}

/**
 * Exact savings: every group is planned with the keep rules and filters (default: most-linked,
 * no filters), so analyze reports what a plan would really free (pinned inodes, owner/mode
 * mismatches and filtered-out paths excluded), in bounded memory.
 */
export function sameDeviceSavings(
  db: DB,
  deviceId: number | undefined,
  limit: number,
  planning?: Planning,
): Analysis['sameDevice'] {
  const est = prepareSameDeviceGroups(db, deviceId, planning?.scoped ?? false);
  const top: GroupKey[] = [];
  let groups = 0;
  let blocked = 0;
  let total = 0;
  let pinned = 0;
  const keep = planning?.keep ?? DEFAULT_KEEP;
  const perPath = planning?.filters.perPath ?? false;
  const keepsPinned = keep[0]?.kind === 'most-linked';
  for (let after = 0; ;) {
    const page = sameGroupPage(db, after, 500);
    if (page.length === 0) break;
    after = page[page.length - 1]!.rowId;
    for (const g of page) {
      if (planning && !planning.filters.sizeOk(g.size)) continue;
      // One owner/mode class, no path filters, and a pinned inode kept if there is one: the
      // SQL figure is exactly what the planner frees. Otherwise let the planner decide which
      // copies it may link.
      let saving = g.saveable;
      if (g.classes > 1 || perPath || (g.pinned > 0 && !keepsPinned) || planning?.scoped) {
        saving = 0;
        const members = groupMembers(db, g.deviceId, g.sha256, g.size);
        const actions = planSameDeviceGroup(members, keep, planning?.group);
        if (actions.length === 0) continue; // every path filtered out: not in scope
        for (const a of actions) saving += a.bytes;
      }
      pinned += g.pinned;
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
    pinnedInodes: planning ? pinned : est.pinnedInodes,
    blockedGroups: blocked,
    top,
  };
}

/**
 * Cross-device duplicates among the paths passing the filters: contents still on two or more
 * devices (and on `deviceId`, when given) once filtered-out paths are set aside.
 */
function filteredCrossDevice(
  db: DB,
  deviceId: number | undefined,
  limit: number,
  filters: Filters,
  group: GroupOptions,
): NonNullable<Analysis['crossDevice']> {
  let groups = 0;
  let bytes = 0;
  const top: CrossKey[] = [];
  for (let after = 0; ;) {
    const page = crossGroupPage(db, after, 500);
    if (page.length === 0) break;
    after = page[page.length - 1]!.rowId;
    for (const g of page) {
      if (!filters.sizeOk(g.size)) continue;
      const members = contentMembers(db, g.sha256, g.size);
      const skips = planCrossDeviceGroup(members, DEFAULT_KEEP, group, deviceId);
      if (skips.length === 0) continue;
      const devices = new Set(skips.map((a) => a.target.deviceId)).size + 1;
      const copies = new Set(
        members
          .filter((m) => group.inScope?.(m) ?? true)
          .filter((m) => !group.reject?.(m, group.visible?.(m) ?? m.path))
          .map((m) => `${m.deviceId}:${m.inode}`),
      ).size;
      groups++;
      bytes += g.size * (devices - 1);
      top.push({ ...g, devices, copies });
      // Filtering can lower a content's device count: keep the top by the filtered figure.
      top.sort((a, b) => b.size * (b.devices - 1) - a.size * (a.devices - 1) || a.rowId - b.rowId);
      if (limit >= 0 && top.length > limit) top.pop();
    }
  }
  return { groups, bytes, top };
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
