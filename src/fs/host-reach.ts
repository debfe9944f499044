/**
 * Where a catalogued filesystem can be reached on this host, in a catalog several hosts share
 * (README "Several hosts"). A device that hosts were recorded for, none of them this one, is
 * another host's: its number on this host means nothing (another host's tmpfs `0:52` is not
 * ours), so it is not reachable here and its files are that host's to hash. A device this host
 * recorded is looked for by this host's own device number and mount point; one no host was
 * recorded for (a catalog from before hosts) by the device row's, as always.
 */
import { hostIdentity } from './host.js';
import { readMountinfo, type MountEntry } from './mountinfo.js';
import { currentMounts, type MountView, type RecordedMount } from './reachability.js';

/** A device row with its per-host mounts (a catalog DeviceRow fits). */
export interface HostRecordedMount extends RecordedMount {
  readonly mounts?: readonly (RecordedMount & { readonly machineId: string })[];
}

export function hostMountViews(
  d: HostRecordedMount,
  mounts: readonly MountEntry[],
  machineId: string,
): MountView[] {
  const recorded = d.mounts ?? [];
  if (recorded.length === 0) return currentMounts(d, mounts);
  const here = recorded.find((m) => m.machineId === machineId);
  return here ? currentMounts(here, mounts) : [];
}

/**
 * Where this host reaches a device now: by this host's own recorded mount (its device number
 * and mount point), never by the devices row, which is where any host saw it last. What acts
 * on files (execute, undo, reflink planning) goes through this.
 */
export function localMountViews(
  d: HostRecordedMount,
  mounts: readonly MountEntry[] = readMountinfo(),
): MountView[] {
  return hostMountViews(d, mounts, hostIdentity().machineId);
}
