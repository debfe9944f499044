import type { Command } from 'commander';
import type { DeviceRow, DeviceUsage } from '../../catalog/scan-port.js';
import { UserError } from '../../errors.js';
import { splitDev } from '../../fs/mountinfo.js';
import { displayPath } from '../../display-path.js';
import { jsonPath } from '../../paths.js';
import { open, printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { countOf, formatBytes, formatCount, formatTime } from '../../format.js';
import { table } from '../format.js';
import { deviceLabel, shownMount, type HostView } from '../../device-label.js';
import { hostView } from '../host-view.js';

function majMin(dev: bigint): string {
  const { major, minor } = splitDev(dev);
  return `${major}:${minor}`;
}

/** The hosts that mount a device (README "Several hosts"); JSON keys added after the others. */
function mountsJson(d: DeviceRow, view: HostView | undefined): Record<string, unknown> {
  const shown = view ? shownMount(d, view) : undefined;
  return {
    host: shown?.hostname ?? null,
    mounts: (d.mounts ?? []).map((m) => ({
      host: m.hostname,
      machine_id: m.machineId,
      ...jsonPath('mount_point', m.mountPoint),
      st_dev_major_minor: majMin(m.stDev),
      first_seen_at: new Date(m.firstSeenAt).toISOString(),
      last_seen_at: new Date(m.lastSeenAt).toISOString(),
    })),
  };
}

export function deviceJson(
  d: DeviceRow,
  u: DeviceUsage | undefined,
  view?: HostView,
): Record<string, unknown> {
  return {
    id: d.id,
    alias: d.alias,
    identity: d.identity,
    identity_stable: d.identityStable,
    fs_type: d.fsType,
    ...jsonPath('mount_point', d.mountPoint),
    ...jsonPath('mount_root', d.mountRoot),
    st_dev: Number(d.stDev),
    st_dev_major_minor: majMin(d.stDev),
    files: u?.files ?? 0,
    inodes: u?.inodes ?? 0,
    bytes: u?.bytes ?? 0,
    allocated_bytes: u?.allocatedBytes ?? 0,
    first_seen_at: new Date(d.firstSeenAt).toISOString(),
    last_seen_at: new Date(d.lastSeenAt).toISOString(),
    last_scan_at: u?.lastScanAt ? new Date(u.lastScanAt).toISOString() : null,
    ...mountsJson(d, view),
  };
}

function renderShow(d: DeviceRow, u: DeviceUsage | undefined, view: HostView): string {
  const mounts = d.mounts ?? [];
  // Which hosts mount it: shown once a listing would name hosts (one host: unchanged).
  const hosts =
    deviceLabel(d, view) === displayPath(d.mountPoint) && mounts.length <= 1
      ? []
      : [
          `  Mounted on:   ${mounts.map((m) => `${m.hostname}:${displayPath(m.mountPoint)}`).join(', ')}`,
        ];
  return [
    `Device ${d.alias}`,
    `  Identity:     ${d.identity}${d.identityStable ? '' : '  (unstable: no filesystem UUID found)'}`,
    `  Filesystem:   ${d.fsType}`,
    `  Mount point:  ${displayPath(d.mountPoint)}${d.mountRoot.length > 1 ? ` (shows ${displayPath(d.mountRoot)})` : ''}`,
    ...hosts,
    `  st_dev:       ${majMin(d.stDev)}`,
    `  Files:        ${countOf(u?.files ?? 0, 'path')}, ${countOf(u?.inodes ?? 0, 'inode')}`,
    `  Bytes:        ${formatBytes(u?.bytes ?? 0)} (${formatCount(u?.bytes ?? 0)} bytes, each inode once)`,
    `  First seen:   ${formatTime(d.firstSeenAt)}`,
    `  Last scan:    ${formatTime(u?.lastScanAt)}`,
  ].join('\n');
}

export function registerDevices(program: Command): void {
  const devices = withGlobals(
    program.command('devices').description('list the filesystems in the catalog'),
  ).action(async (opts: GlobalOptions) => {
    const cat = await open(opts, { readonly: true });
    try {
      const list = await cat.devices.list();
      const usage = await cat.devices.usage();
      const view = await hostView(cat);
      if (opts.json) {
        printJson({ devices: list.map((d) => deviceJson(d, usage.get(d.id), view)) });
        return;
      }
      if (list.length === 0) {
        say(opts, 'No devices yet: run `hashall scan DIR`.');
        return;
      }
      say(
        opts,
        table(
          ['ALIAS', 'IDENTITY', 'FS', 'MOUNT POINT', 'ST_DEV', 'FILES', 'BYTES', 'LAST SCAN'],
          list.map((d) => {
            const u = usage.get(d.id);
            return [
              d.alias,
              d.identity + (d.identityStable ? '' : ' (unstable)'),
              d.fsType,
              deviceLabel(d, view),
              majMin(d.stDev),
              formatCount(u?.files ?? 0),
              formatBytes(u?.bytes ?? 0),
              formatTime(u?.lastScanAt),
            ];
          }),
          [false, false, false, false, false, true, true, false],
        ),
      );
    } finally {
      await cat.close();
    }
  });

  // `devices` has the global options too, so commander gives it those written before the
  // subcommand and, being the parent, those after it as well: read both (the subcommand's win).
  withGlobals(
    devices.command('show').description('one device in detail').argument('<alias>'),
  ).action(async (alias: string, _local: GlobalOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<GlobalOptions>();
    const cat = await open(opts, { readonly: true });
    try {
      const d = await cat.devices.findByAlias(alias);
      if (!d) throw new UserError(`no device with alias '${alias}'; 'hashall devices' lists them`);
      const u = (await cat.devices.usage()).get(d.id);
      const view = await hostView(cat);
      if (opts.json) printJson(deviceJson(d, u, view));
      else say(opts, renderShow(d, u, view));
    } finally {
      await cat.close();
    }
  });

  withGlobals(
    devices
      .command('alias')
      .description('rename a device alias')
      .argument('<old>')
      .argument('<new>'),
  ).action(async (oldAlias: string, newAlias: string, _local: GlobalOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<GlobalOptions>();
    const cat = await open(opts);
    try {
      const d = await cat.devices.rename({ from: oldAlias, to: newAlias });
      if (opts.json) printJson(deviceJson(d, (await cat.devices.usage()).get(d.id)));
      else say(opts, `Device ${d.identity} is now '${d.alias}'.`);
    } finally {
      await cat.close();
    }
  });
}
