/** `conductor plan`: turn the catalog's groups into a stored plan, in one transaction. */
import type { DB } from '../catalog/open.js';
import {
  contentMembers,
  crossGroupPage,
  groupMembers,
  inodeMembers,
  linkOnlyPage,
  prepareCrossDeviceGroups,
  prepareLinkOnlyInodes,
  prepareSameDeviceGroups,
  sameGroupPage,
} from '../catalog/groups.js';
import { pendingCandidates } from '../catalog/hashing.js';
import {
  ActionWriter,
  actionCounts,
  finalizePlanTotals,
  getPlan,
  insertPlan,
  type PlanRow,
} from '../catalog/plans.js';
import type { DeviceRow } from '../catalog/devices.js';
import {
  planCrossDeviceGroup,
  planLinkOnlyInode,
  planSameDeviceGroup,
  type GroupOptions,
} from './keep.js';
import { DEFAULT_KEEP, keepRuleText, type KeepRule } from './keep-rules.js';
import { Filters } from './filters.js';
import { Scope } from './scope.js';
import { prepareScopeDirs, storePlanScope } from '../catalog/scope.js';
import { visiblePathMapper } from './visible-path.js';
import type { Mode } from './mode.js';
import {
  ReflinkPlanner,
  directSink,
  recordReflinkOptions,
  type UnsupportedDevice,
} from './reflink-plan.js';

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
export function groupOptions(db: DB, filters: Filters, scope = Scope.all): GroupOptions {
  const toVisible = visiblePathMapper(db);
  return {
    visible: (m) => toVisible(m.deviceId, m.path),
    ...(filters.active ? { reject: (m, v) => filters.reject(m, v) } : {}),
    ...(scope.active ? { inScope: (m) => scope.contains(m.deviceId, m.path) } : {}),
  };
}

/** Restrict the grouping queries to the scope's directories; true when there is a scope. */
export function prepareScope(db: DB, scope: Scope): boolean {
  if (!scope.active) return false;
  prepareScopeDirs(db, scope.entries);
  return true;
}

export interface PlanResult {
  readonly plan: PlanRow;
  readonly counts: ReturnType<typeof actionCounts>;
  /** Reflink plans: filesystems without reflinks (nothing planned there), FIEMAP estimates. */
  readonly reflink?: { unsupported: UnsupportedDevice[]; estimated: number; fiemap: boolean };
}

const PAGE = 500;

export function createPlan(db: DB, req: PlanRequest): PlanResult {
  let reflink: ReflinkPlanner | undefined;
  const keep = req.keep?.length ? req.keep : DEFAULT_KEEP;
  const filters = req.filters ?? Filters.none;
  const scope = req.scope ?? Scope.all;
  const rules = keep.map(keepRuleText);
  const planId = db
    .transaction(() => {
      const id = insertPlan(db, req.name, {
        deviceId: req.device?.id ?? null,
        deviceAlias: req.device?.alias ?? null,
        sameDevice: req.sameDevice,
        crossDevice: req.crossDevice,
        keep: rules.join(', '),
        keep_rules: rules,
        filters: filters.toJson(),
        ...(req.mode === 'reflink' ? { mode: 'reflink' as const } : {}),
      });
      storePlanScope(db, id, scope.entries);
      const scoped = prepareScope(db, scope);
      const opts = groupOptions(db, filters, scope);
      const writer = new ActionWriter(db, id);
      reflink = req.mode === 'reflink' ? new ReflinkPlanner(db, writer) : undefined;
      const sink = reflink ?? directSink(writer);
      let groupNo = 0;
      const deviceId = req.device?.id;
      if (req.sameDevice) {
        prepareSameDeviceGroups(db, deviceId, scoped);
        for (let after = 0; ;) {
          const page = sameGroupPage(db, after, PAGE);
          if (page.length === 0) break;
          after = page[page.length - 1]!.rowId;
          for (const g of page) {
            if (!filters.sizeOk(g.size)) continue;
            const actions = planSameDeviceGroup(
              groupMembers(db, g.deviceId, g.sha256, g.size),
              keep,
              opts,
            );
            if (actions.length === 0) continue;
            groupNo++;
            sink.add(groupNo, actions);
          }
          sink.flush();
        }
        prepareLinkOnlyInodes(db, deviceId, scoped);
        for (let after = 0; ;) {
          const page = linkOnlyPage(db, after, PAGE);
          if (page.length === 0) break;
          after = page[page.length - 1]!.rowId;
          for (const ino of page) {
            const members = inodeMembers(db, ino.deviceId, ino.inode);
            if (members[0] && !filters.sizeOk(members[0].size)) continue;
            const actions = planLinkOnlyInode(members, keep, opts);
            if (actions.length === 0) continue;
            groupNo++;
            sink.add(groupNo, actions);
          }
        }
      }
      if (req.crossDevice) {
        prepareCrossDeviceGroups(db, deviceId, scoped);
        for (let after = 0; ;) {
          const page = crossGroupPage(db, after, PAGE);
          if (page.length === 0) break;
          after = page[page.length - 1]!.rowId;
          for (const g of page) {
            if (!filters.sizeOk(g.size)) continue;
            const actions = planCrossDeviceGroup(
              contentMembers(db, g.sha256, g.size),
              keep,
              opts,
              deviceId,
            );
            if (actions.length === 0) continue;
            groupNo++;
            for (const a of actions) writer.add(groupNo, a);
          }
        }
      }
      if (reflink) recordReflinkOptions(db, id, reflink.unsupported.values());
      finalizePlanTotals(db, id, pendingCandidates(db));
      return id;
    })
    .immediate();
  return {
    plan: getPlan(db, planId)!,
    counts: actionCounts(db, planId),
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
