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

const NS = 1_000_000_000n;

/**
 * An mtime in nanoseconds as an ISO date (UTC) to the second, for the plan's review, with
 * `fraction` digits of the second (0 to 9) after it.
 */
export function mtimeText(ns: bigint, fraction = 0): string {
  // Whole seconds rounded down (a time before 1970 too), and what is left of the second.
  const seconds = ns >= 0n ? ns / NS : -((-ns + NS - 1n) / NS);
  const rest = ns - seconds * NS;
  const day = new Date(Number(seconds) * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
  const digits = Math.max(0, Math.min(9, fraction));
  const part = digits === 0 ? '' : `.${rest.toString().padStart(9, '0').slice(0, digits)}`;
  return `${day}${part} UTC`;
}

/**
 * The two mtimes of a change, to the second where that tells them apart, else with as many
 * digits of the second as it takes (3, 6 or 9): two copies made within one second read
 * "12:00:00.120 UTC becomes 12:00:00.480 UTC", never the same text twice.
 */
export function mtimeChangeTexts(from: bigint, to: bigint): [string, string] {
  let digits = 0;
  while (digits < 9 && mtimeText(from, digits) === mtimeText(to, digits)) digits += 3;
  return [mtimeText(from, digits), mtimeText(to, digits)];
}
