/**
 * `--rescan` (auto-execute, analyze): rescan what earlier scans recorded, before planning or
 * analyzing, so that one command (a timer's job, or a user's look at what could be saved) sees
 * the tree as it is now. Which roots: the ones recorded for the filesystems in question, through
 * their current mounts, limited to the scope; the scan itself is the scan command's.
 */
import { lstatSync } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import { readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { byteKey, isUnder } from '../paths.js';
import { absolutePath } from '../fs/reachability.js';
import { localMountViews } from '../fs/host-reach.js';
import { Scope } from './scope.js';

/** Whether to rescan first, and how (the scan's own `--exclude` and `--one-file-system`). */
export type Rescan =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'rescan';
      readonly exclude: readonly string[];
      readonly oneFileSystem: boolean;
    };

export interface ScanRoots {
  /** Where to rescan now: the device's recorded scan roots, outermost only, reachable now. */
  readonly roots: Buffer[];
  /** Recorded roots that are gone or not reachable now (reported, not scanned). */
  readonly missing: Buffer[];
}

/**
 * The roots earlier scans of this filesystem started from (recorded as paths inside the
 * filesystem, so a remount elsewhere still finds them), through its current mounts. With a
 * scope (`--device DIR` or PATHs), only what of them lies in it: a scope directory inside a
 * root is rescanned itself, a root inside a scope directory whole, and a root beside the scope
 * not at all. A scoped job read the whole filesystem to plan a corner of it. (Paths outside the
 * scope keep their last scan's rows; they take no part in the plan but to pin the inodes they
 * link, and an inode linked from outside keeps its links' count, which the rescan reads anew.)
 */
export async function scanRootsOf(
  catalog: Pick<Catalog, 'execution'>,
  device: DeviceRow,
  scope: Scope = Scope.all,
  mounts: readonly MountEntry[] = readMountinfo(),
): Promise<ScanRoots> {
  const recorded = await catalog.execution.scanRoots(device.id);
  const fsPaths = recorded.flatMap((root) => scope.partsOf(device.id, root));
  const views = localMountViews(device, mounts);
  const roots: Buffer[] = [];
  const missing: Buffer[] = [];
  for (const p of fsPaths) {
    const abs = absolutePath(p, views);
    let ok = false;
    if (abs) {
      try {
        ok = lstatSync(abs).isDirectory();
      } catch {
        ok = false;
      }
    }
    if (ok) roots.push(abs!);
    else missing.push(abs ?? p);
  }
  return { roots: outermost(roots), missing };
}

/** Outermost roots only: scanning /pool covers /pool/media. */
function outermost(roots: readonly Buffer[]): Buffer[] {
  const sorted = [...new Map(roots.map((r) => [byteKey(r), r])).values()].sort(
    (a, b) => a.length - b.length,
  );
  const outer: Buffer[] = [];
  for (const r of sorted) if (!outer.some((o) => isUnder(r, o))) outer.push(r);
  return outer;
}

export interface RescanTargets extends ScanRoots {
  /**
   * Filesystems in question that this host does not mount now (another host's, in a shared
   * catalog, or unmounted): their rows stay as their last scan left them.
   */
  readonly notHere: readonly DeviceRow[];
  /** When there are no roots: why, in words. */
  readonly why: string | undefined;
}

/**
 * What `analyze --rescan` rescans: the recorded roots of `--device`'s filesystem, else of the
 * filesystems the scope names, else of every catalogued filesystem this host mounts, each
 * limited to the scope. A filesystem named on purpose but not mounted here is reported through
 * its missing roots, as auto-execute does; one merely in the catalog is listed in `notHere`.
 */
export async function rescanTargets(
  catalog: Pick<Catalog, 'execution' | 'devices'>,
  req: { readonly device: DeviceRow | undefined; readonly scope: Scope },
): Promise<RescanTargets> {
  const { device, scope } = req;
  const mounts = readMountinfo();
  const named = device
    ? [device]
    : scope.active
      ? scope.deviceIds.map((id) => scope.entries.find((e) => e.deviceId === id)!.device)
      : undefined;
  let devices: readonly DeviceRow[] = named ?? [];
  let notHere: readonly DeviceRow[] = [];
  if (!named) {
    const all = await catalog.devices.list();
    devices = all.filter((d) => localMountViews(d, mounts).length > 0);
    notHere = all.filter((d) => !devices.includes(d));
  }
  const roots: Buffer[] = [];
  const missing: Buffer[] = [];
  for (const d of devices) {
    const r = await scanRootsOf(catalog, d, scope, mounts);
    roots.push(...r.roots);
    missing.push(...r.missing);
  }
  // Each filesystem's roots are outermost already. Roots of different filesystems stay apart
  // even when one is mounted inside the other's: with --one-file-system the outer root's scan
  // does not reach the inner filesystem.
  return { roots, missing, notHere, why: roots.length ? undefined : nothingWhy() };

  /** Why there is nothing to rescan, in words for the user. */
  function nothingWhy(): string {
    if (missing.length)
      return `${missing.length} recorded ${missing.length === 1 ? 'root is' : 'roots are'} gone or not mounted`;
    if (named)
      return 'no scan started there: it was only ever scanned as part of another filesystem';
    if (notHere.length) return 'no filesystem the catalog holds is mounted on this host';
    return 'the catalog holds no scan yet';
  }
}
