/** `conductor plan`: turn the catalog's groups into a stored plan, in one unit of work. */
import type { Catalog } from '../catalog/port.js';
import type { ActionCount, GroupKind, PlannedGroup } from '../catalog/plan-port.js';
import type { PlanRow } from '../catalog/plans.js';
import type { DeviceRow } from '../catalog/devices.js';
import type { Member } from '../catalog/groups.js';
import type { PlannedAction } from '../catalog/plan-types.js';
import {
  planCrossDeviceGroup,
  planLinkOnlyInode,
  planSameDeviceGroup,
  type GroupOptions,
} from './keep.js';
import { DEFAULT_KEEP, keepRuleText, type KeepRule } from './keep-rules.js';
import { locateKeepPrefixes } from './keep-prefixes.js';
import { Filters } from './filters.js';
import { Scope } from './scope.js';
import { visiblePathMapper } from './visible-path.js';
import type { Mode } from './mode.js';
import {
  ReflinkPlanner,
  directSink,
  recordReflinkOptions,
  type GroupSink,
  type UnsupportedDevice,
} from './reflink-plan.js';

/** What planning asks of the catalog. */
export type PlanningCatalog = Pick<
  Catalog,
  'plans' | 'planActions' | 'planning' | 'planDevices' | 'unitOfWork'
>;

export interface PlanRequest {
  readonly name: string;
  readonly device?: DeviceRow;
  readonly sameDevice: boolean;
  readonly crossDevice: boolean;
  /** Keep rules in order (default: most-linked). */
  readonly keep?: readonly KeepRule[];
  readonly filters?: Filters;
  /** hardlink (default) or reflink (see reflink-plan.ts). */
  readonly mode?: Mode;
  /** Only paths at or below these directories take part (default: everything). */
  readonly scope?: Scope;
}

/** How groups are seen: user-visible paths, and the filters when any look at paths. */
export function groupOptions(o: {
  readonly devices: readonly DeviceRow[];
  readonly filters: Filters;
  readonly scope?: Scope;
}): GroupOptions {
  const toVisible = visiblePathMapper(o.devices);
  const { filters, scope = Scope.all } = o;
  return {
    visible: (m) => toVisible(m.deviceId, m.path),
    ...(filters.active ? { reject: (m, v) => filters.reject(m, v) } : {}),
    ...(scope.active ? { inScope: (m) => scope.contains(m.deviceId, m.path) } : {}),
  };
}

/** Restrict the grouping queries to the scope's directories; true when there is a scope. */
export async function prepareScope(
  catalog: Pick<Catalog, 'planning'>,
  scope: Scope,
): Promise<boolean> {
  if (!scope.active) return false;
  await catalog.planning.restrictTo(scope.entries);
  return true;
}

export interface PlanResult {
  readonly plan: PlanRow;
  readonly counts: ActionCount[];
  /** Reflink plans: filesystems without reflinks (nothing planned there), FIEMAP estimates. */
  readonly reflink?: { unsupported: UnsupportedDevice[]; estimated: number; fiemap: boolean };
}

const PAGE = 500;

/** Every group of a kind, a page at a time: plan each, hand the page to the sink. */
async function planGroups(
  catalog: PlanningCatalog,
  q: {
    readonly kind: GroupKind;
    readonly filters: Filters;
    readonly sink: GroupSink;
    readonly plan: (members: Member[]) => PlannedAction[];
    /** The last group number used so far. */
    readonly groupNo: number;
  },
): Promise<number> {
  let groupNo = q.groupNo;
  const sizes = { min: q.filters.minSize, max: q.filters.maxSize };
  for (let after: number | undefined = 0; after !== undefined;) {
    const page = await catalog.planning.page({ kind: q.kind, after, limit: PAGE, sizes });
    after = page.next;
    for (const members of page.groups) {
      const actions = q.plan(members);
      if (actions.length === 0) continue;
      groupNo++;
      q.sink.add(groupNo, actions);
    }
    await q.sink.flush();
  }
  return groupNo;
}

export async function createPlan(catalog: PlanningCatalog, req: PlanRequest): Promise<PlanResult> {
  let reflink: ReflinkPlanner | undefined;
  const keep = await locateKeepPrefixes(catalog, req.keep?.length ? req.keep : DEFAULT_KEEP);
  const filters = req.filters ?? Filters.none;
  const scope = req.scope ?? Scope.all;
  const rules = keep.map(keepRuleText);
  const devices = await catalog.planDevices.list();
  const planId = await catalog.unitOfWork(async () => {
    const id = await catalog.plans.create({
      name: req.name,
      options: {
        deviceId: req.device?.id ?? null,
        deviceAlias: req.device?.alias ?? null,
        sameDevice: req.sameDevice,
        crossDevice: req.crossDevice,
        keep: rules.join(', '),
        keep_rules: rules,
        filters: filters.toJson(),
        ...(req.mode === 'reflink' ? { mode: 'reflink' as const } : {}),
      },
      scope: scope.entries,
    });
    const scoped = await prepareScope(catalog, scope);
    const opts = groupOptions({ devices, filters, scope });
    const write = (groups: readonly PlannedGroup[]) => catalog.planActions.write(id, groups);
    reflink = req.mode === 'reflink' ? new ReflinkPlanner(devices, write) : undefined;
    const sink = reflink ?? directSink(write);
    let groupNo = 0;
    const deviceId = req.device?.id;
    if (req.sameDevice) {
      await catalog.planning.select({ kind: 'same-device', deviceId, scoped });
      groupNo = await planGroups(catalog, {
        kind: 'same-device',
        filters,
        sink,
        groupNo,
        plan: (members) => planSameDeviceGroup(members, keep, opts),
      });
      await catalog.planning.select({ kind: 'link-only', deviceId, scoped });
      groupNo = await planGroups(catalog, {
        kind: 'link-only',
        filters,
        sink,
        groupNo,
        plan: (members) => planLinkOnlyInode(members, keep, opts),
      });
    }
    if (req.crossDevice) {
      await catalog.planning.select({ kind: 'cross-device', deviceId, scoped });
      // Cross-device actions are informational SKIPs: written as they are, in either mode.
      await planGroups(catalog, {
        kind: 'cross-device',
        filters,
        sink: directSink(write),
        groupNo,
        plan: (members) => planCrossDeviceGroup(members, keep, opts, deviceId),
      });
    }
    if (reflink) await recordReflinkOptions(catalog, id, reflink.unsupported.values());
    await catalog.plans.finalize(id);
    return id;
  });
  const plan = await catalog.plans.get(planId);
  if (!plan) throw new Error(`plan ${planId} is missing right after it was stored`);
  return {
    plan,
    counts: await catalog.planActions.counts(planId),
    ...(reflink
      ? {
          reflink: {
            unsupported: [...reflink.unsupported.values()],
            estimated: reflink.estimated,
            fiemap: reflink.fiemap,
          },
        }
      : {}),
  };
}
