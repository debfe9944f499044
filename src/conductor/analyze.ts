/**
 * `conductor analyze` and `conductor status`: what the catalog says could be saved. Read
 * through the catalog port (groups and stats), a page of groups at a time.
 */
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow, DeviceUsage } from '../catalog/devices.js';
import type { CrossKey, GroupKey } from '../catalog/groups.js';
import type {
  CrossDeviceGroups,
  GroupingSource,
  HardlinkTotals,
  RowScope,
} from '../catalog/query-port.js';
import type { LastScan } from '../catalog/scans.js';
import { planCrossDeviceGroup, planSameDeviceGroup, type GroupOptions } from './keep.js';
import { DEFAULT_KEEP, type KeepRule } from './keep-rules.js';
import { locateKeepPrefixes } from './keep-prefixes.js';
import { Filters } from './filters.js';
import { Scope } from './scope.js';
import { groupOptions } from './plan.js';
import { byPathBudget, rowScope } from './group-view.js';

/** The concerns analyze and status read. */
export type AnalyzeCatalog = Pick<
  Catalog,
  'groups' | 'stats' | 'devices' | 'hashing' | 'scans' | 'planDevices'
>;

const PAGE = 500;
/**
 * Paths of groups fetched in one call when the planner must look at them. Small on purpose:
 * measured cold on 100,000 files, batches of 2,000 paths cost 15% more CPU than one group per
 * call (members created long before the planner reads them), 256 about 3%; a network backend
 * still answers dozens of groups per round trip.
 */
const MEMBER_BUDGET = 256;

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
    /** How the catalog obtained the groups (undefined: the backend does not say). */
    source: GroupingSource | undefined;
  };
  readonly crossDevice: { groups: number; bytes: number; top: CrossKey[] } | undefined;
  readonly pending: number;
  readonly emptyFiles: number;
}

export async function devicesOf(
  catalog: Pick<Catalog, 'stats' | 'devices'>,
  only?: DeviceRow,
): Promise<DeviceSummary[]> {
  const usage = await catalog.stats.deviceUsage();
  return (await catalog.devices.list())
    .filter((d) => !only || d.id === only.id)
    .map((d) => ({ device: d, usage: usage.get(d.id) }));
}

export interface AnalyzeOptions {
  readonly device?: DeviceRow;
  readonly crossDevice: boolean;
  readonly limit: number;
  readonly keep?: readonly KeepRule[];
  readonly filters?: Filters;
  /** Only paths at or below these directories (default: everything). */
  readonly scope?: Scope;
}

export async function analyze(catalog: AnalyzeCatalog, opts: AnalyzeOptions): Promise<Analysis> {
  const deviceId = opts.device?.id;
  const filters = opts.filters ?? Filters.none;
  const scope = opts.scope ?? Scope.all;
  const rows = rowScope(scope);
  const scoped = scope.active;
  const devices = await devicesOf(catalog, opts.device);
  const group = (): GroupOptions =>
    groupOptions({ devices: devices.map((d) => d.device), filters, scope });
  const planning: Planning | undefined =
    filters.active || opts.keep?.length || scoped
      ? {
          keep: await locateKeepPrefixes(catalog, opts.keep ?? DEFAULT_KEEP),
          filters,
          group: group(),
          scope: rows,
        }
      : undefined;
  const same = await sameDeviceSavings(catalog, { deviceId, limit: opts.limit, planning });
  let cross: Analysis['crossDevice'];
  if (opts.crossDevice) {
    const c = await catalog.groups.crossDevice({ deviceId, scope: rows });
    cross =
      filters.active || scoped
        ? await filteredCrossDevice(catalog, {
            deviceId,
            limit: opts.limit,
            filters,
            group: planning?.group ?? group(),
            listing: c,
          })
        : { groups: c.groups, bytes: c.bytes, top: [...(await c.page(0, opts.limit))] };
  }
  const empty = await catalog.groups.emptyFiles({ deviceId, scope: rows });
  const inScope = new Set(scope.deviceIds);
  return {
    devices: devices.filter((d) => !scoped || inScope.has(d.device.id)),
    sameDevice: same,
    crossDevice: cross,
    pending: await catalog.hashing.pending(),
    emptyFiles: empty,
  };
}

/** Keep rules and filters a plan would be made with (analyze's --keep and filters). */
export interface Planning {
  readonly keep: readonly KeepRule[];
  readonly filters: Filters;
  readonly group: GroupOptions;
  /** The rows that take part (analyze with PATHs: those below them). */
  readonly scope: RowScope;
}

/**
 * Exact savings: every group is planned with the keep rules and filters (default: most-linked,
 * no filters), so analyze reports what a plan would really free (pinned inodes, owner/mode
 * mismatches and filtered-out paths excluded), in bounded memory.
 *
 * Without filters or a scope, and with a pinned inode kept first (most-linked, the default), a
 * group of one owner/mode class frees exactly SQL's figure: those are counted by the catalog,
 * and only the groups of several classes are read and planned. On 100,000 files that reads a few dozen
 * groups instead of 11,838 (each decoded, and over a network backend, sent).
 */
export async function sameDeviceSavings(
  catalog: Pick<Catalog, 'groups'>,
  q: {
    readonly deviceId: number | undefined;
    readonly limit: number;
    readonly planning?: Planning | undefined;
  },
): Promise<Analysis['sameDevice']> {
  const { limit, planning } = q;
  const scoped = planning !== undefined && planning.scope.kind !== 'all';
  const listing = await catalog.groups.sameDevice({
    deviceId: q.deviceId,
    scope: planning?.scope ?? { kind: 'all' },
  });
  const keep = planning?.keep ?? DEFAULT_KEEP;
  const perPath = planning?.filters.perPath ?? false;
  const keepsPinned = keep[0]?.kind === 'most-linked';
  // One owner/mode class, no path filters, and a pinned inode kept if there is one: the SQL
  // figure is exactly what the planner frees. Otherwise let the planner decide which copies
  // it may link.
  const needsPlanner = (g: GroupKey) =>
    g.classes > 1 || perPath || (g.pinned > 0 && !keepsPinned) || scoped;
  const counted = keepsPinned && !scoped && !(planning?.filters.active ?? false);
  const top = new Top(limit);
  let groups = 0;
  let blocked = 0;
  let total = 0;
  let pinned = 0;
  if (counted) {
    ({ groups, blocked, saveable: total, pinned } = listing.oneClass);
    if (limit !== 0) for (const g of await listing.pageOf('one', 0, limit)) top.offer(g);
  }
  const pageAfter = counted
    ? (after: number) => listing.pageOf('several', after, PAGE)
    : (after: number) => listing.page(after, PAGE);
  for (let after = 0; ;) {
    const page = await pageAfter(after);
    if (page.length === 0) break;
    after = page[page.length - 1]!.rowId;
    const kept = planning ? page.filter((g) => planning.filters.sizeOk(g.size)) : page;
    for (const batch of byPathBudget(kept, MEMBER_BUDGET, (g) => (needsPlanner(g) ? g.paths : 0))) {
      const planned = batch.filter(needsPlanner);
      const members = await catalog.groups.members(planned);
      const membersOf = new Map(planned.map((g, i) => [g, members[i]!]));
      for (const g of batch) {
        let saving = g.saveable;
        const m = membersOf.get(g);
        if (m) {
          saving = 0;
          const actions = planSameDeviceGroup(m, keep, planning?.group);
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
        top.offer({ ...g, saveable: saving });
      }
    }
  }
  return {
    groups,
    bytesSaveable: total,
    pinnedInodes: planning ? pinned : listing.pinnedInodes,
    blockedGroups: blocked,
    top: top.groups,
    source: listing.source,
  };
}

/**
 * The `limit` groups freeing most (< 0: all), ties in listing order, whatever order they are
 * offered in (counted groups come first, planned ones after).
 */
class Top {
  private readonly held: GroupKey[] = [];
  private sorted = true;
  constructor(private readonly limit: number) {}

  offer(g: GroupKey): void {
    const { limit, held } = this;
    if (limit === 0 || g.saveable === 0) return;
    held.push(g);
    if (limit < 0) {
      this.sorted = false; // sorted once, when read: no limit can mean every group
      return;
    }
    held.sort(Top.order);
    if (held.length > limit) held.pop();
  }

  get groups(): GroupKey[] {
    if (!this.sorted) this.held.sort(Top.order);
    this.sorted = true;
    return this.held;
  }

  private static order(a: GroupKey, b: GroupKey): number {
    return b.saveable - a.saveable || a.rowId - b.rowId;
  }
}

/**
 * Cross-device duplicates among the paths passing the filters: contents still on two or more
 * devices (and on `deviceId`, when given) once filtered-out paths are set aside.
 */
async function filteredCrossDevice(
  catalog: Pick<Catalog, 'groups'>,
  q: {
    readonly deviceId: number | undefined;
    readonly limit: number;
    readonly filters: Filters;
    readonly group: GroupOptions;
    readonly listing: CrossDeviceGroups;
  },
): Promise<NonNullable<Analysis['crossDevice']>> {
  const { deviceId, limit, filters, group } = q;
  let groups = 0;
  let bytes = 0;
  const top: CrossKey[] = [];
  for (let after = 0; ;) {
    const page = await q.listing.page(after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]!.rowId;
    const kept = page.filter((g) => filters.sizeOk(g.size));
    for (const batch of byPathBudget(kept, MEMBER_BUDGET, (g) => g.copies)) {
      const members = await catalog.groups.contentMembers(batch);
      batch.forEach((g, i) => {
        const m = members[i]!;
        const skips = planCrossDeviceGroup(m, DEFAULT_KEEP, group, deviceId);
        if (skips.length === 0) return;
        const devices = new Set(skips.map((a) => a.target.deviceId)).size + 1;
        const copies = new Set(
          m
            .filter((x) => group.inScope?.(x) ?? true)
            .filter((x) => !group.reject?.(x, group.visible?.(x) ?? x.path))
            .map((x) => `${x.deviceId}:${x.inode}`),
        ).size;
        groups++;
        bytes += g.size * (devices - 1);
        top.push({ ...g, devices, copies });
        // Filtering can lower a content's device count: keep the top by the filtered figure.
        top.sort(
          (a, b) => b.size * (b.devices - 1) - a.size * (a.devices - 1) || a.rowId - b.rowId,
        );
        if (limit >= 0 && top.length > limit) top.pop();
      });
    }
  }
  return { groups, bytes, top };
}

export interface Status {
  readonly devices: DeviceSummary[];
  readonly files: number;
  readonly inodes: number;
  readonly bytes: number;
  readonly hardlinks: HardlinkTotals;
  readonly bytesSaveable: number;
  readonly groups: number;
  readonly pending: number;
  readonly lastScans: LastScan[];
}

export async function status(catalog: AnalyzeCatalog, device?: DeviceRow): Promise<Status> {
  const devices = await devicesOf(catalog, device);
  const same = await sameDeviceSavings(catalog, { deviceId: device?.id, limit: 0 });
  let files = 0;
  let inodes = 0;
  let bytes = 0;
  if (device) {
    const u = devices[0]?.usage;
    files = u?.files ?? 0;
    inodes = u?.inodes ?? 0;
    bytes = u?.bytes ?? 0;
  } else {
    const s = await catalog.stats.catalog();
    files = s.activeFiles;
    inodes = s.activeInodes;
    bytes = s.activeBytes;
  }
  return {
    devices,
    files,
    inodes,
    bytes,
    hardlinks: await catalog.groups.hardlinks({ deviceId: device?.id }),
    bytesSaveable: same.bytesSaveable,
    groups: same.groups,
    pending: await catalog.hashing.pending(),
    lastScans: (await catalog.scans.lastPerRoot()).filter(
      (s) => !device || s.deviceId === device.id,
    ),
  };
}
