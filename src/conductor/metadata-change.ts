/**
 * What a target path's visible metadata becomes once its action runs (issue 12 §4). A hardlink
 * makes the target path another name of the kept inode, so it shows the kept copy's mtime (owner,
 * group and mode are equal, or the action is a SKIP). A reflink clone takes the target's own
 * metadata: nothing visible changes.
 */
import { decodeActionType } from '../catalog/action-decode.js';
import type { Catalog } from '../catalog/port.js';
import type { PlanRow } from '../catalog/plans.js';
import type { ActionRow } from '../catalog/actions.js';
import type { Mode } from './mode.js';

export type MetadataField = 'mtime';

export function metadataChanges(
  mode: Mode,
  a: Pick<ActionRow, 'type' | 'sourceMtimeNs' | 'targetMtimeNs'>,
): MetadataField[] {
  // Only a hardlink shows the kept copy's metadata (a REFLINK keeps the target's own).
  if (decodeActionType(a.type, mode) !== 'HARDLINK') return [];
  return a.sourceMtimeNs !== a.targetMtimeNs ? ['mtime'] : [];
}

/** Targets of a plan that will show another mtime once linked (none in a reflink plan). */
export function planMetadataChanges(
  catalog: Pick<Catalog, 'plans'>,
  plan: Pick<PlanRow, 'id'>,
): Promise<number> {
  return catalog.plans.metadataChanges(plan.id);
}

/** An mtime in nanoseconds as an ISO date to the second (UTC), for the plan's review. */
export function mtimeText(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n))
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}
