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
  type KeepRule,
} from './keep.js';
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
  readonly keep: KeepRule;
  /** hardlink (default) or reflink (see reflink-plan.ts). */
  readonly mode?: Mode;
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
  const planId = db
    .transaction(() => {
      const id = insertPlan(db, req.name, {
        deviceId: req.device?.id ?? null,
        deviceAlias: req.device?.alias ?? null,
        sameDevice: req.sameDevice,
        crossDevice: req.crossDevice,
        keep: req.keep,
        ...(req.mode === 'reflink' ? { mode: 'reflink' as const } : {}),
      });
      const writer = new ActionWriter(db, id, req.keep);
      reflink = req.mode === 'reflink' ? new ReflinkPlanner(db, writer) : undefined;
      const sink = reflink ?? directSink(writer);
      let groupNo = 0;
      const deviceId = req.device?.id;
      if (req.sameDevice) {
        prepareSameDeviceGroups(db, deviceId);
        for (let after = 0; ;) {
          const page = sameGroupPage(db, after, PAGE);
          if (page.length === 0) break;
          after = page[page.length - 1]!.rowId;
          for (const g of page) {
            groupNo++;
            sink.add(
              groupNo,
              planSameDeviceGroup(groupMembers(db, g.deviceId, g.sha256, g.size), req.keep),
            );
          }
          sink.flush();
        }
        prepareLinkOnlyInodes(db, deviceId);
        for (let after = 0; ;) {
          const page = linkOnlyPage(db, after, PAGE);
          if (page.length === 0) break;
          after = page[page.length - 1]!.rowId;
          for (const ino of page) {
            groupNo++;
            sink.add(groupNo, planLinkOnlyInode(inodeMembers(db, ino.deviceId, ino.inode)));
          }
        }
      }
      if (req.crossDevice) {
        prepareCrossDeviceGroups(db, deviceId);
        for (let after = 0; ;) {
          const page = crossGroupPage(db, after, PAGE);
          if (page.length === 0) break;
          after = page[page.length - 1]!.rowId;
          for (const g of page) {
            groupNo++;
            for (const a of planCrossDeviceGroup(contentMembers(db, g.sha256, g.size), req.keep))
              writer.add(groupNo, a);
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
