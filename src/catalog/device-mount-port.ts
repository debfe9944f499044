/**
 * Devices as hosts see them (README "Several hosts"): which host mounts which device where,
 * recorded by each host's scans in `device_mounts`. A device is one filesystem wherever it is
 * seen; where it is mounted is per host. Both backends implement this concern
 * (device-mounts.ts for SQLite, pg/device-mounts.ts for PostgreSQL).
 */

/** Where one host mounts a device, as that host's last scan of it saw. */
export interface DeviceMount {
  readonly hostId: number;
  readonly machineId: string;
  readonly hostname: string;
  readonly mountPoint: Buffer;
  readonly mountRoot: Buffer;
  /** The device number on that host (another host numbers the filesystem its own way). */
  readonly stDev: bigint;
  /** Unix ms. */
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
}

/** A mount with its device, for listings by host. */
export interface DeviceMountRow extends DeviceMount {
  readonly deviceId: number;
  readonly alias: string;
  readonly identity: string;
  readonly fsType: string;
  /** This host's last completed scan of the device, unix ms. */
  readonly lastScanAt: number | null;
}

/** Where a device is, seen from one host. */
export interface DevicePlacement {
  readonly deviceId: number;
  readonly alias: string;
  readonly identity: string;
  readonly fsType: string;
  /** This host's mount of it, when this host has scanned it. */
  readonly here: DeviceMount | undefined;
  /** The other hosts that mount it, most recently seen first. */
  readonly elsewhere: readonly DeviceMount[];
}

export interface DeviceMountCatalog {
  readonly deviceMounts: {
    /** Every host's mount of every device, by host then device. */
    list(): Promise<readonly DeviceMountRow[]>;
    /** The devices a plan's replacements act on (the replaced targets' and the kept copies'). */
    ofPlan(planId: number): Promise<readonly number[]>;
    /**
     * For each device: whether the host `machineId` mounts it, and which other hosts do. A
     * device no host was recorded for (a catalog from before hosts, not rescanned) has neither.
     */
    placement(q: {
      readonly machineId: string;
      readonly deviceIds: readonly number[];
    }): Promise<readonly DevicePlacement[]>;
  };
}

/** Split a device's mounts into this host's and the others' (both backends). */
export function placeDevice(
  d: {
    readonly id: number;
    readonly alias: string;
    readonly identity: string;
    readonly fsType: string;
  },
  mounts: readonly DeviceMount[],
  machineId: string,
): DevicePlacement {
  return {
    deviceId: d.id,
    alias: d.alias,
    identity: d.identity,
    fsType: d.fsType,
    here: mounts.find((m) => m.machineId === machineId),
    elsewhere: mounts
      .filter((m) => m.machineId !== machineId)
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt),
  };
}
