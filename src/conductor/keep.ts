/**
 * Which copy a group keeps, and what happens to every other path (DESIGN §4). Pure logic over
 * the group's catalogue rows: the SQL that finds groups and stores actions lives elsewhere.
 */
import type { Member } from '../catalog/groups.js';

export type KeepRule = 'most-linked' | 'path';
export const KEEP_RULES: readonly KeepRule[] = ['most-linked', 'path'];

export type ActionType = 'HARDLINK' | 'NOOP' | 'SKIP';

export interface PlannedAction {
  readonly type: ActionType;
  readonly source: Member;
  readonly target: Member;
  /** The target inode's size on the one action that frees it (its last link), else 0. */
  readonly bytes: number;
  readonly reason?: string;
}

export interface InodeSet {
  readonly inode: bigint;
  /** Catalogued paths of this inode in the group, lexically sorted (bytes). */
  readonly paths: Member[];
  readonly nlink: number;
  /** More links than the catalog knows: replacing its paths would not free it. */
  readonly pinned: boolean;
}

export function byInode(members: readonly Member[]): InodeSet[] {
  const map = new Map<bigint, Member[]>();
  for (const m of members) {
    const list = map.get(m.inode);
    if (list) list.push(m);
    else map.set(m.inode, [m]);
  }
  return [...map.entries()].map(([inode, paths]) => {
    paths.sort((a, b) => Buffer.compare(a.path, b.path));
    const nlink = Math.max(...paths.map((p) => p.nlink));
    return { inode, paths, nlink, pinned: nlink > paths.length };
  });
}

/**
 * The kept inode. `most-linked`: an inode pinned by links outside the catalog first (it can
 * never be freed, so keeping it lets the others go), then the most catalogued links (fewest
 * writes), then the lexically first path. `path`: the inode of the lexically first path.
 */
export function chooseKept(sets: readonly InodeSet[], rule: KeepRule): InodeSet {
  const sorted = [...sets].sort((a, b) => {
    if (rule === 'most-linked') {
      if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
      if (a.paths.length !== b.paths.length) return b.paths.length - a.paths.length;
    }
    return Buffer.compare(a.paths[0]!.path, b.paths[0]!.path);
  });
  return sorted[0]!;
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

/** Actions for one same-device group (≥ 2 inodes with the same content). */
export function planSameDeviceGroup(members: readonly Member[], rule: KeepRule): PlannedAction[] {
  const sets = byInode(members);
  const kept = chooseKept(sets, rule);
  const source = kept.paths[0]!;
  const actions: PlannedAction[] = [];
  for (const p of kept.paths.slice(1))
    actions.push({ type: 'NOOP', source, target: p, bytes: 0, reason: 'already linked' });
  for (const set of sets) {
    if (set === kept) continue;
    const mismatch = metadataMismatch(source, set.paths[0]!);
    let reason: string | undefined;
    if (set.pinned) reason = `pinned: ${set.nlink - set.paths.length} link(s) outside the catalog`;
    else if (mismatch) reason = mismatch;
    if (reason) {
      for (const p of set.paths)
        actions.push({ type: 'SKIP', source, target: p, bytes: 0, reason });
      continue;
    }
    set.paths.forEach((p, i) =>
      actions.push({
        type: 'HARDLINK',
        source,
        target: p,
        // Freed only when its last catalogued link is replaced: count it once, on that action.
        bytes: i === set.paths.length - 1 ? p.size : 0,
      }),
    );
  }
  return actions;
}

/** NOOP actions for an inode whose several paths are already one file. */
export function planLinkOnlyInode(members: readonly Member[]): PlannedAction[] {
  const [set] = byInode(members);
  if (!set || set.paths.length < 2) return [];
  const source = set.paths[0]!;
  return set.paths
    .slice(1)
    .map((p) => ({ type: 'NOOP', source, target: p, bytes: 0, reason: 'already linked' }));
}

/** Informational SKIPs for one content found on several devices: never linked. */
export function planCrossDeviceGroup(members: readonly Member[], rule: KeepRule): PlannedAction[] {
  const devices = [...new Set(members.map((m) => m.deviceId))].sort((a, b) => a - b);
  const first = members.filter((m) => m.deviceId === devices[0]);
  const source = chooseKept(byInode(first), rule).paths[0]!;
  const actions: PlannedAction[] = [];
  for (const dev of devices.slice(1)) {
    for (const set of byInode(members.filter((m) => m.deviceId === dev))) {
      actions.push({
        type: 'SKIP',
        source,
        target: set.paths[0]!,
        bytes: 0,
        reason: 'cross-device',
      });
    }
  }
  return actions;
}
