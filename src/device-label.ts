/**
 * How listings name a device (README "Several hosts"): by its mount point, as always, while
 * the catalog knows one host; as `host:mountpoint` (`nas1:/pool`) once it knows several, or
 * when the device is mounted only on another host. The mount shown is this host's when it has
 * one, else the one seen most recently.
 */
import { displayPath } from './display-path.js';

/** What a label needs of a device row (a catalog DeviceRow fits). */
export interface LabelledDevice {
  readonly mountPoint: Buffer;
  readonly mounts?: readonly {
    readonly machineId: string;
    readonly hostname: string;
    readonly mountPoint: Buffer;
  }[];
}

/** Who is looking: this host's machine id, and how many hosts the catalog knows. */
export interface HostView {
  readonly machineId: string;
  readonly hosts: number;
}

/** The mount a listing shows: this host's, else the latest; undefined when none is recorded. */
export function shownMount(d: LabelledDevice, view: HostView) {
  const mounts = d.mounts ?? [];
  return mounts.find((m) => m.machineId === view.machineId) ?? mounts[0];
}

export function deviceLabel(d: LabelledDevice, view: HostView): string {
  const m = shownMount(d, view);
  const mine = m !== undefined && m.machineId === view.machineId;
  // One host (or a catalog from before hosts): the output of a single machine, unchanged.
  if (!m || (view.hosts <= 1 && mine)) return displayPath(d.mountPoint);
  return `${m.hostname}:${displayPath(m.mountPoint)}`;
}
