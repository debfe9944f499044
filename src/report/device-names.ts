/**
 * How reports name a plan's devices (README "Several hosts"), as `devices` and `dupes` do: the
 * mount shown is this host's, else where a host saw it last; labelled `nas1:/pool` once the
 * catalog knows several hosts (device-label.ts). Read once per report from the device rows.
 */
import type { DeviceRow } from '../catalog/devices.js';
import {
  deviceLabel,
  hostPathLabel,
  hostPrefix,
  shownMount,
  type HostView,
} from '../device-label.js';

export interface DeviceNames {
  readonly view: HostView;
  alias(id: number): string;
  /** `nas1:/pool` (several hosts) or `/pool`; `device ID` for a device not in the catalog. */
  label(id: number): string;
  /** The host whose mount is shown: null when none is recorded (a catalog from before hosts). */
  host(id: number): { readonly hostname: string; readonly machineId: string } | null;
  /** The mount point shown (this host's, else the latest), or undefined for an unknown id. */
  mountPoint(id: number): Buffer | undefined;
  /** A path on device `id` as listings name it: `nas1:/pool/a` under the same rule. */
  path(id: number, abs: Buffer): string;
  /** What that rule puts before a path on device `id`: `nas1:` or ''. */
  prefix(id: number): string;
}

export function deviceNames(devices: readonly DeviceRow[], view: HostView): DeviceNames {
  const byId = new Map(devices.map((d) => [d.id, d]));
  const host = (id: number) => {
    const d = byId.get(id);
    const m = d ? shownMount(d, view) : undefined;
    return m ? { hostname: m.hostname, machineId: m.machineId } : null;
  };
  return {
    view,
    alias: (id) => byId.get(id)?.alias ?? String(id),
    label: (id) => {
      const d = byId.get(id);
      return d ? deviceLabel(d, view) : `device ${id}`;
    },
    host,
    mountPoint: (id) => {
      const d = byId.get(id);
      return d ? (shownMount(d, view)?.mountPoint ?? d.mountPoint) : undefined;
    },
    path: (id, abs) => hostPathLabel(abs, host(id), view),
    prefix: (id) => hostPrefix(host(id), view),
  };
}
