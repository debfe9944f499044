import type { Command } from 'commander';
import { openHostCatalog } from '../../catalog/host-open.js';
import type { HostRow } from '../../catalog/host-port.js';
import type { DeviceMountRow } from '../../catalog/device-mount-port.js';
import { displayPath } from '../../display-path.js';
import { jsonPath } from '../../paths.js';
import { splitDev } from '../../fs/mountinfo.js';
import { hostIdentity } from '../../fs/host.js';
import { printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { formatTime } from '../../format.js';
import { table } from '../format.js';

function mountJson(m: DeviceMountRow): Record<string, unknown> {
  const { major, minor } = splitDev(m.stDev);
  return {
    device_id: m.deviceId,
    alias: m.alias,
    identity: m.identity,
    fs_type: m.fsType,
    ...jsonPath('mount_point', m.mountPoint),
    ...(m.mountRoot.length > 1 ? jsonPath('mount_root', m.mountRoot) : {}),
    st_dev_major_minor: `${major}:${minor}`,
    first_seen_at: new Date(m.firstSeenAt).toISOString(),
    last_seen_at: new Date(m.lastSeenAt).toISOString(),
    last_scan_at: m.lastScanAt === null ? null : new Date(m.lastScanAt).toISOString(),
  };
}

function hostJson(
  h: HostRow,
  self: string,
  mounts: readonly DeviceMountRow[],
): Record<string, unknown> {
  return {
    id: h.id,
    hostname: h.hostname,
    machine_id: h.machineId,
    this_host: h.machineId === self,
    first_seen_at: new Date(h.firstSeenAt).toISOString(),
    last_seen_at: new Date(h.lastSeenAt).toISOString(),
    devices: mounts.filter((m) => m.hostId === h.id).map(mountJson),
  };
}

/** Each host's devices: where it mounts them, and each device's last completed scan. */
function devicesTable(mounts: readonly DeviceMountRow[]): string {
  return table(
    ['DEVICE', 'ALIAS', 'FS', 'IDENTITY', 'SEEN', 'LAST SCAN'],
    mounts.map((m) => [
      `${m.hostname}:${displayPath(m.mountPoint)}`,
      m.alias,
      m.fsType,
      m.identity,
      formatTime(m.lastSeenAt),
      formatTime(m.lastScanAt),
    ]),
  );
}

export function registerHosts(program: Command): void {
  withGlobals(
    program
      .command('hosts')
      .description('list the hosts that use the catalog (a postgresql:// catalog is shared)'),
  ).action(async (opts: GlobalOptions) => {
    const self = hostIdentity();
    const cat = await openHostCatalog(opts.catalog);
    try {
      let list: readonly HostRow[];
      let mounts: readonly DeviceMountRow[];
      try {
        list = await cat.hosts.list();
        mounts = await cat.deviceMounts.list();
      } catch (err) {
        throw cat.failure(err);
      }
      if (opts.json) {
        printJson({
          catalog: cat.location,
          backend: cat.backend,
          this_host: { hostname: self.hostname, machine_id: self.machineId },
          hosts: list.map((h) => hostJson(h, self.machineId, mounts)),
        });
        return;
      }
      if (list.length === 0) {
        say(opts, `No hosts registered in ${cat.location} yet.`);
        return;
      }
      say(
        opts,
        table(
          ['ID', 'HOST', 'MACHINE ID', 'FIRST SEEN', 'LAST SEEN', ''],
          list.map((h) => [
            String(h.id),
            h.hostname,
            h.machineId,
            formatTime(h.firstSeenAt),
            formatTime(h.lastSeenAt),
            h.machineId === self.machineId ? '(this host)' : '',
          ]),
          [true, false, false, false, false, false],
        ) + (mounts.length > 0 ? `\n\n${devicesTable(mounts)}` : ''),
      );
    } finally {
      await cat.close();
    }
  });
}
