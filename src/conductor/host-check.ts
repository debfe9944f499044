/**
 * Linking stays local (README "Several hosts"): `execute` acts only on devices this host
 * mounts. Before a run touches anything, the devices a plan's replacements act on are looked
 * up: one another host mounts (and this one has never scanned) is refused, naming that host,
 * and so is a network filesystem (its disks are on the server: link there).
 *
 * A device no host was recorded for (a catalog from before hosts, not rescanned) passes: the
 * executor's own checks (the mount showing the recorded device number, each file's identity)
 * still apply to it, as they always have.
 */
import type { Catalog } from '../catalog/port.js';
import type { DevicePlacement } from '../catalog/device-mount-port.js';
import { displayPath } from '../display-path.js';
import { UserError } from '../errors.js';
import { hostIdentity, type HostIdentity } from '../fs/host.js';

function why(p: DevicePlacement): string | undefined {
  if (p.identity.startsWith('net:')) {
    return `${p.alias} is a network filesystem (${p.fsType} ${p.identity.slice(4)}): link on the server that has its disks`;
  }
  if (p.here || p.elsewhere.length === 0) return undefined;
  const where = p.elsewhere.map((m) => `${m.hostname}:${displayPath(m.mountPoint)}`).join(', ');
  const hosts = [...new Set(p.elsewhere.map((m) => m.hostname))].join(' or ');
  return `${p.alias} is mounted on ${hosts} (${where}), not on this host: run it on ${hosts}`;
}

/** Refuse (a UserError, exit 2) a plan acting on a device this host does not mount. */
export async function refuseDevicesElsewhere(
  catalog: Pick<Catalog, 'deviceMounts'>,
  planId: number,
  host: HostIdentity = hostIdentity(),
): Promise<void> {
  const deviceIds = await catalog.deviceMounts.ofPlan(planId);
  if (deviceIds.length === 0) return;
  const placed = await catalog.deviceMounts.placement({ machineId: host.machineId, deviceIds });
  const refused = placed.map(why).filter((w): w is string => w !== undefined);
  if (refused.length === 0) return;
  throw new UserError(
    `plan ${planId} acts on devices this host (${host.hostname}) cannot link: ${refused.join('; ')}; nothing was done`,
  );
}
