/**
 * A filesystem as the catalog knows it (`DeviceRow`) and as a scan sees it (`DeviceSighting`):
 * shapes only, so that devices.ts and device-mounts.ts, which both use them, need not import
 * each other both ways.
 */
import type { DeviceMount } from './device-mount-port.js';
import type { HostSighting } from './host-port.js';

export interface DeviceRow {
  readonly id: number;
  readonly identity: string;
  readonly identityStable: boolean;
  readonly alias: string;
  readonly fsType: string;
  readonly stDev: bigint;
  readonly mountPoint: Buffer;
  readonly mountRoot: Buffer;
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
  /**
   * The hosts that mount it and where (README "Several hosts"), most recently seen first;
   * empty for a device no host was recorded for (a catalog from before hosts). Absent where an
   * operation does not load them.
   */
  readonly mounts?: readonly DeviceMount[];
}

export interface DeviceSighting {
  readonly identity: string;
  readonly stable: boolean;
  readonly fsType: string;
  readonly stDev: bigint;
  readonly mountPoint: Buffer;
  readonly mountRoot: Buffer;
  /**
   * The host whose scan sees it: its mount is recorded in device_mounts, and a bare device
   * number's row of a catalog from before hosts becomes this host's (`identity` is then
   * qualified, see src/device-identity.ts).
   */
  readonly host?: HostSighting;
}
