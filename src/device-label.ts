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
  return m ? hostPathLabel(m.mountPoint, m, view) : displayPath(d.mountPoint);
}

/**
 * A path on a host (a mount point, a scan's root), by the same rule: plain while the catalog
 * knows one host and the path is this host's, or no host was recorded; else `host:path`.
 */
export function hostPathLabel(
  path: Buffer,
  host: { readonly machineId: string; readonly hostname: string } | null | undefined,
  view: HostView,
): string {
  return `${hostPrefix(host, view)}${displayPath(path)}`;
}

/** `nas1:` when a path on `host` is named with its host (the rule above), else ''. */
export function hostPrefix(
  host: { readonly machineId: string; readonly hostname: string } | null | undefined,
  view: HostView,
): string {
  // One host (or a catalog from before hosts): the output of a single machine, unchanged.
  if (!host || (view.hosts <= 1 && host.machineId === view.machineId)) return '';
  return `${host.hostname}:`;
}
