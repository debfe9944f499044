/**
 * Which copy a group keeps, and what happens to every other path (DESIGN §4). Pure logic over
 * the group's catalogue rows: the SQL that finds groups and stores actions lives elsewhere.
 */
import type { Member } from '../catalog/groups.js';
import type { ActionType, PlannedAction } from '../catalog/plan-types.js';
import {
  DEFAULT_KEEP,
  chooseCandidate,
  type Candidate,
  type KeepRule,
  type KeepRuleName,
} from './keep-rules.js';

/** A chain of parsed rules, or one rule by name. */
export type KeepSpec = KeepRuleName | readonly KeepRule[];

function rulesOf(keep: KeepSpec): readonly KeepRule[] {
  return typeof keep === 'string' ? [{ kind: keep }] : keep;
}

/** How the planner sees paths: as the user does, and through the filters. */
export interface GroupOptions {
  /** The path as the user sees it (mount point + path inside); default: the path inside. */
  readonly visible?: (m: Member) => Buffer;
  /** Why a path is filtered out (a 'filtered…' reason), or undefined when it passes. */
  readonly reject?: (m: Member, visible: Buffer) => string | undefined;
  /**
   * Whether a path is in the scope (`plan NAME PATH...`); default: every path. A path outside
   * is not part of the plan at all; its inode's paths inside cannot free it.
   */
  readonly inScope?: (m: Member) => boolean;
}

export interface InodeSet {
  readonly inode: bigint;
  /** Catalogued paths of this inode in the group, lexically sorted (bytes). */
  readonly paths: Member[];
  readonly nlink: number;
  /** More links than the catalog knows: replacing its paths would not free it. */
  readonly pinned: boolean;
}

const inside = (m: Member) => m.path;

export function byInode(members: readonly Member[], visible = inside): InodeSet[] {
  const map = new Map<bigint, { m: Member; v: Buffer }[]>();
  for (const m of members) {
    const e = { m, v: visible(m) };
    const list = map.get(m.inode);
    if (list) list.push(e);
    else map.set(m.inode, [e]);
  }
  return [...map.entries()].map(([inode, list]) => {
    list.sort((a, b) => Buffer.compare(a.v, b.v));
    const paths = list.map((e) => e.m);
    const nlink = Math.max(...paths.map((p) => p.nlink));
    return { inode, paths, nlink, pinned: nlink > paths.length };
  });
}

interface Entry {
  readonly m: Member;
  readonly visible: Buffer;
  /** Set when the filters leave this path out. */
  readonly filtered: string | undefined;
}

interface SetView {
  readonly set: InodeSet;
  /** Every path of the inode in the scope, in the set's order. */
  readonly entries: Entry[];
  /** Catalogued paths of the inode outside the scope. */
  readonly outside: number;
  readonly eligible: Entry[];
  readonly filtered: Entry[];
}

function view(members: readonly Member[], opts: GroupOptions): SetView[] {
  const visible = opts.visible ?? inside;
  const vis = new Map<Member, Buffer>(members.map((m) => [m, visible(m)]));
  const inScope = opts.inScope ?? (() => true);
  return byInode(members, (m) => vis.get(m)!)
    .map((set) => {
      const entries = set.paths.filter(inScope).map((m) => {
        const v = vis.get(m)!;
        return { m, visible: v, filtered: opts.reject?.(m, v) };
      });
      return {
        set,
        entries,
        outside: set.paths.length - entries.length,
        eligible: entries.filter((e) => !e.filtered),
        filtered: entries.filter((e) => e.filtered),
      };
    })
    .filter((s) => s.entries.length > 0); // wholly outside the scope: not part of the plan
}

function candidates(sets: readonly SetView[]): Candidate[] {
  return sets.flatMap((s) =>
    s.eligible.map((e) => ({
      member: e.m,
      visible: e.visible,
      held: s.set.pinned || s.outside > 0 || s.filtered.length > 0,
      links: s.set.paths.length,
    })),
  );
}

/**
 * The kept inode. `most-linked`: an inode pinned by links outside the catalog first (it can
 * never be freed, so keeping it lets the others go), then the most catalogued links (fewest
 * writes), then the lexically first path. `path`: the inode of the lexically first path. Other
 * rules and chains: see keep-rules.ts.
 */
export function chooseKept(sets: readonly InodeSet[], keep: KeepSpec): InodeSet {
  const cands = sets.flatMap((s) =>
    s.paths.map((m) => ({ member: m, visible: m.path, held: s.pinned, links: s.paths.length })),
  );
  const { kept } = chooseCandidate(cands, rulesOf(keep));
  return sets.find((s) => s.inode === kept.member.inode)!;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why a hardlink would change who may read or write the file, if it would. */
export function metadataMismatch(kept: Member, other: Member): string | undefined {
  const diffs: string[] = [];
  if (kept.mode !== other.mode) diffs.push(`mode ${octal(other.mode)} vs kept ${octal(kept.mode)}`);
  if (kept.uid !== other.uid) diffs.push(`owner ${other.uid} vs kept ${kept.uid}`);
  if (kept.gid !== other.gid) diffs.push(`group ${other.gid} vs kept ${kept.gid}`);
  return diffs.length ? `owner/group/mode differ: ${diffs.join(', ')}` : undefined;
}

/**
 * Actions for one same-device group (≥ 2 inodes with the same content). A filtered-out path is
 * never replaced and never the kept copy: it is listed as SKIP with its reason. An inode with a
 * filtered-out link cannot be freed, so its other links are not replaced either. A group with
 * no path passing the filters yields no action at all.
 */
export function planSameDeviceGroup(
  members: readonly Member[],
  keep: KeepSpec = DEFAULT_KEEP,
  opts: GroupOptions = {},
): PlannedAction[] {
  const sets = view(members, opts);
  const cands = candidates(sets);
  if (cands.length === 0) return [];
  const { kept, rule } = chooseCandidate(cands, rulesOf(keep));
  const source = kept.member;
  const actions: PlannedAction[] = [];
  const add = (type: ActionType, target: Member, bytes: number, reason?: string) =>
    actions.push({ type, source, target, bytes, keepRule: rule, ...(reason ? { reason } : {}) });
  const keptSet = sets.find((s) => s.set.inode === source.inode)!;
  for (const e of keptSet.entries) {
    if (e.m === source) continue;
    if (e.filtered) add('SKIP', e.m, 0, e.filtered);
    else add('NOOP', e.m, 0, 'already linked');
  }
  for (const s of sets) {
    if (s === keptSet) continue;
    let reason: string | undefined;
    if (s.set.pinned)
      reason = `pinned: ${s.set.nlink - s.set.paths.length} link(s) outside the catalog`;
    else if (s.outside > 0)
      reason = `partly out of scope: ${s.outside} other link(s) of this inode are outside the scope, so replacing this one would free nothing`;
    else if (s.filtered.length > 0)
      reason = `partly filtered: ${s.filtered.length} other link(s) of this inode are filtered out, so replacing this one would free nothing`;
    else reason = metadataMismatch(source, s.set.paths[0]!);
    s.eligible.forEach((e, i) => {
      if (reason) add('SKIP', e.m, 0, reason);
      // Freed only when its last catalogued link is replaced: count it once, on that action.
      else add('HARDLINK', e.m, i === s.eligible.length - 1 ? e.m.size : 0);
    });
    for (const e of s.filtered) add('SKIP', e.m, 0, e.filtered);
  }
  return actions;
}

/** NOOP actions for an inode whose several paths are already one file. */
export function planLinkOnlyInode(
  members: readonly Member[],
  keep: KeepSpec = DEFAULT_KEEP,
  opts: GroupOptions = {},
): PlannedAction[] {
  if (members.length < 2) return [];
  const sets = view(members, opts);
  const cands = candidates(sets);
  if (cands.length === 0 || sets[0]!.entries.length < 2) return [];
  const { kept, rule } = chooseCandidate(cands, rulesOf(keep));
  const source = kept.member;
  return sets[0]!.entries
    .filter((e) => e.m !== source)
    .map((e) => ({
      type: e.filtered ? 'SKIP' : 'NOOP',
      source,
      target: e.m,
      bytes: 0,
      reason: e.filtered ?? 'already linked',
      keepRule: rule,
    }));
}

/**
 * Informational SKIPs for one content found on several devices: never linked. Only paths
 * passing the filters count; with `onDevice`, the content must pass on that device too.
 */
export function planCrossDeviceGroup(
  members: readonly Member[],
  keep: KeepSpec = DEFAULT_KEEP,
  opts: GroupOptions = {},
  onDevice?: number,
): PlannedAction[] {
  const visible = opts.visible ?? inside;
  const scoped = opts.inScope ? members.filter(opts.inScope) : members;
  const passing = opts.reject ? scoped.filter((m) => !opts.reject!(m, visible(m))) : scoped;
  const devices = [...new Set(passing.map((m) => m.deviceId))].sort((a, b) => a - b);
  if (devices.length < 2 || (onDevice !== undefined && !devices.includes(onDevice))) return [];
  const first = view(
    passing.filter((m) => m.deviceId === devices[0]),
    { visible },
  );
  const { kept, rule } = chooseCandidate(candidates(first), rulesOf(keep));
  const source = kept.member;
  const actions: PlannedAction[] = [];
  for (const dev of devices.slice(1)) {
    for (const set of byInode(
      passing.filter((m) => m.deviceId === dev),
      visible,
    )) {
      actions.push({
        type: 'SKIP',
        source,
        target: set.paths[0]!,
        bytes: 0,
        reason: 'cross-device',
        keepRule: rule,
      });
    }
  }
  return actions;
}
