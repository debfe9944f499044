/**
 * Planning in reflink mode. The hardlink planner (keep.ts) decides which copy each group keeps;
 * this module turns its actions into clone actions and prices them with what the filesystem
 * reports:
 *
 * - owner/group/mode differences are no reason to skip: a clone is a new inode that takes the
 *   target's owner, group, mode and times, so nobody gains access to anything;
 * - pinned inodes (links outside the catalog) stay skipped: cloning the known paths would only
 *   split the inode, never free it;
 * - a target inode with several paths (hardlinks the user made) is skipped: a clone per path
 *   would split one file into independent copies, silently changing what writing to one of
 *   its names does (hardlink mode may join them: they stay one file);
 * - the saving is the target's blocks that are its own (FIEMAP: not shared with any other file,
 *   not inline): those are freed when its data is dropped for blocks shared with the kept copy.
 *   A target already sharing every block with the kept copy (reflinked before) is a NOOP; one
 *   whose data lives inline in metadata (tiny btrfs files) is skipped: a clone would copy it;
 * - a filesystem where FICLONE fails (ext4, tmpfs, XFS without reflink=1) gets no action at
 *   all, and the plan says so. Support is tested by cloning a 4 KiB probe file in the
 *   directory of the first target on each filesystem.
 */
import { closeSync } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import type { Member } from '../catalog/groups.js';
import type { PlannedGroup } from '../catalog/plan-port.js';
import type { PlannedAction } from '../catalog/plan-types.js';
import { readMountinfo } from '../fs/mountinfo.js';
import {
  allInline,
  exclusiveBytes,
  extentMaps,
  fiemapAvailable,
  probeReflink,
  sameBlocks,
  type ExtentMap,
  type ReflinkSupport,
} from '../fs/reflink.js';
import { openRegular } from '../fs/safe-ops.js';
import { parentOf } from '../paths.js';
import { absolutePath, type MountView } from '../fs/reachability.js';
import { localMountViews } from '../fs/host-reach.js';

/** Writes a batch of groups' actions to the plan. */
export type WriteGroups = (groups: readonly PlannedGroup[]) => Promise<void>;

/** Where planned actions go, group by group. */
export interface GroupSink {
  add(groupNo: number, actions: readonly PlannedAction[]): void;
  /** Write out whatever is buffered (after each page of groups, and at the end). */
  flush(): Promise<void>;
}

/** Groups written as planned, one batch per page. */
export function directSink(write: WriteGroups): GroupSink {
  let out: PlannedGroup[] = [];
  return {
    add: (groupNo, actions) => {
      out.push({ groupNo, actions });
    },
    flush: async () => {
      if (out.length === 0) return;
      const batch = out;
      out = [];
      await write(batch);
    },
  };
}

export const ALREADY_SHARED = 'already shares every block with the kept copy';
export const SPLIT_LINKS =
  'hardlinked: the target has several links; a clone per path would split them into independent files (hardlink mode keeps them one file)';
export const INLINE = 'inline: its data lives in filesystem metadata; a clone would copy it';

const inodeKey = (m: Member) => `${m.deviceId}:${m.inode}`;

/**
 * The hardlink plan of one same-device group, as a reflink plan before pricing: SKIPs for
 * owner/group/mode differences become replacements (the clone takes the target's metadata),
 * with the inode's size on its last path; everything else is kept as it is.
 */
export function toReflinkActions(actions: readonly PlannedAction[]): PlannedAction[] {
  const lastOf = new Map<string, number>();
  actions.forEach((a, i) => {
    if (a.type === 'SKIP' && a.reason?.startsWith('owner/group/mode differ'))
      lastOf.set(inodeKey(a.target), i);
  });
  const converted = actions.map((a, i) => {
    if (a.type !== 'SKIP' || !a.reason?.startsWith('owner/group/mode differ')) return a;
    // Everything else the keep rules recorded stays; the reason for skipping goes.
    const replaced: PlannedAction = {
      ...a,
      type: 'HARDLINK',
      bytes: lastOf.get(inodeKey(a.target)) === i ? a.target.size : 0,
    };
    delete (replaced as { reason?: string }).reason;
    return replaced;
  });
  // A target inode named by more than one replacement (or with links beyond them) is skipped.
  const names = new Map<string, number>();
  for (const a of converted) {
    if (a.type === 'HARDLINK')
      names.set(inodeKey(a.target), (names.get(inodeKey(a.target)) ?? 0) + 1);
  }
  return converted.map((a) =>
    a.type === 'HARDLINK' && (names.get(inodeKey(a.target))! > 1 || a.target.nlink > 1)
      ? { ...a, type: 'SKIP', bytes: 0, reason: SPLIT_LINKS }
      : a,
  );
}

/**
 * Re-price one group's replacement actions with the target inodes' block maps: NOOP where the
 * target already shares every block with the kept file, SKIP where its data is inline, else the
 * target's own (unshared) bytes on its last path. `maps` gives undefined where FIEMAP could not
 * tell: the size stays the estimate.
 */
export function priceActions(
  actions: readonly PlannedAction[],
  maps: (m: Member) => ExtentMap | undefined,
): { actions: PlannedAction[]; estimated: number } {
  let estimated = 0;
  const verdict = new Map<
    string,
    { kind: 'noop' } | { kind: 'inline' } | { kind: 'bytes'; n: number }
  >();
  for (const a of actions) {
    if (a.type !== 'HARDLINK') continue;
    const k = inodeKey(a.target);
    if (verdict.has(k)) continue;
    const t = maps(a.target);
    const s = maps(a.source);
    if (!t) {
      estimated++;
      verdict.set(k, { kind: 'bytes', n: a.target.size });
    } else if (s && sameBlocks(t, s)) verdict.set(k, { kind: 'noop' });
    else if (allInline(t)) verdict.set(k, { kind: 'inline' });
    else verdict.set(k, { kind: 'bytes', n: exclusiveBytes(t) });
  }
  const out = actions.map((a): PlannedAction => {
    if (a.type !== 'HARDLINK') return a;
    const v = verdict.get(inodeKey(a.target))!;
    if (v.kind === 'noop') return { ...a, type: 'NOOP', bytes: 0, reason: ALREADY_SHARED };
    if (v.kind === 'inline') return { ...a, type: 'SKIP', bytes: 0, reason: INLINE };
    return { ...a, bytes: a.bytes > 0 ? v.n : 0 };
  });
  return { actions: out, estimated };
}

export interface UnsupportedDevice {
  readonly device: DeviceRow;
  readonly reason: string;
  /** Groups that were not planned on it. */
  groups: number;
}

/** Buffers a page of groups, probes their filesystems, reads their block maps, writes them. */
export class ReflinkPlanner implements GroupSink {
  private readonly buffered: { groupNo: number; actions: PlannedAction[] }[] = [];
  /** Groups ready to write, in the order they were settled (priced or passed through). */
  private out: PlannedGroup[] = [];
  private readonly devices = new Map<number, DeviceRow>();
  private readonly views = new Map<number, MountView[]>();
  private readonly support = new Map<number, ReflinkSupport>();
  readonly unsupported = new Map<number, UnsupportedDevice>();
  /** Target inodes whose saving is their size, because FIEMAP could not tell. */
  estimated = 0;

  constructor(
    devices: readonly DeviceRow[],
    private readonly write: WriteGroups,
  ) {
    const mounts = readMountinfo();
    for (const d of devices) {
      this.devices.set(d.id, d);
      this.views.set(d.id, localMountViews(d, mounts));
    }
  }

  get fiemap(): boolean {
    return fiemapAvailable();
  }

  private abs(deviceId: number, fsPath: Buffer): Buffer | undefined {
    return absolutePath(fsPath, this.views.get(deviceId) ?? []);
  }

  /** Probe once per filesystem, in the directory of its first target. */
  private supported(target: Member): boolean {
    let s = this.support.get(target.deviceId);
    if (!s) {
      const dir = this.abs(target.deviceId, parentOf(target.path));
      s = dir
        ? probeReflink(dir)
        : {
            supported: false,
            reason: 'not mounted now: reflink support and block maps cannot be read',
          };
      this.support.set(target.deviceId, s);
      if (!s.supported) {
        this.unsupported.set(target.deviceId, {
          device: this.devices.get(target.deviceId)!,
          reason: s.reason,
          groups: 0,
        });
      }
    }
    if (!s.supported) this.unsupported.get(target.deviceId)!.groups++;
    return s.supported;
  }

  add(groupNo: number, actions: readonly PlannedAction[]): void {
    const replace = actions.find(
      (a) =>
        a.type === 'HARDLINK' ||
        (a.type === 'SKIP' && a.reason?.startsWith('owner/group/mode differ')),
    );
    // Nothing to clone (every other copy pinned, or only NOOPs): as in hardlink mode, unless
    // the filesystem is known to have no reflinks (then nothing at all is planned there).
    if (!replace) {
      const first = actions[0];
      if (first && this.support.get(first.target.deviceId)?.supported === false) return;
      this.out.push({ groupNo, actions });
      return;
    }
    if (!this.supported(replace.target)) return; // nothing planned on this filesystem
    this.buffered.push({ groupNo, actions: toReflinkActions(actions) });
    if (this.buffered.length >= 500) this.price();
  }

  async flush(): Promise<void> {
    this.price();
    if (this.out.length === 0) return;
    const batch = this.out;
    this.out = [];
    await this.write(batch);
  }

  /** Read the buffered groups' block maps and price them (ready to write). */
  private price(): void {
    if (this.buffered.length === 0) return;
    const groups = this.buffered.splice(0);
    // Open every file whose block map matters: the targets that free something, and sources.
    const wanted = new Map<string, Member>();
    for (const g of groups) {
      for (const a of g.actions) {
        if (a.type !== 'HARDLINK') continue;
        wanted.set(inodeKey(a.source), a.source);
        wanted.set(inodeKey(a.target), a.target);
      }
    }
    const keys: string[] = [];
    const fds: number[] = [];
    try {
      for (const [k, m] of wanted) {
        const abs = this.abs(m.deviceId, m.path);
        if (!abs) continue;
        try {
          const f = openRegular(abs);
          if (BigInt.asIntN(64, f.st.ino) !== m.inode) {
            closeSync(f.fd); // changed since the scan: execute will find it stale
            continue;
          }
          keys.push(k);
          fds.push(f.fd);
        } catch {
          // unreadable or gone: priced by its size, refused by execute if it is gone
        }
      }
      const maps = new Map<string, ExtentMap | undefined>();
      extentMaps(fds).forEach((m, i) => maps.set(keys[i]!, m));
      for (const g of groups) {
        const priced = priceActions(g.actions, (m) => maps.get(inodeKey(m)));
        this.estimated += priced.estimated;
        this.out.push({ groupNo: g.groupNo, actions: priced.actions });
      }
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }
}

/** Record the reflink outcome of planning in the plan's options (after its actions). */
export async function recordReflinkOptions(
  catalog: Pick<Catalog, 'plans'>,
  planId: number,
  unsupported: Iterable<UnsupportedDevice>,
): Promise<void> {
  await catalog.plans.setReflinkOptions(
    planId,
    [...unsupported].map((u) => ({
      device: u.device.alias,
      fs_type: u.device.fsType,
      reason: u.reason,
    })),
  );
}
