/**
 * The path as the user sees it: a filesystem path placed under a mount point where that
 * filesystem is mounted on this host now, else under the mount point of this host's last scan
 * of it, else of the last scan by any host (README "Several hosts"). show-plan prints these
 * paths, and the filters and keep rules look at them.
 */
import type { DeviceRow } from '../catalog/devices.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { isUnder, rebase, relativeTo } from '../paths.js';
import { absolutePath, type MountView } from '../fs/reachability.js';
import { localMountViews } from '../fs/host-reach.js';
import { hostIdentity } from '../fs/host.js';

export type VisiblePath = (deviceId: number, fsPath: Buffer) => Buffer;

/** Over the catalog's devices (`catalog.planDevices.list()`), read once by the caller. */
export function visiblePathMapper(deviceRows: readonly DeviceRow[]): VisiblePath {
  const mounts = readMountinfo();
  const devices = new Map(deviceRows.map((d) => [d.id, d]));
  const views = new Map<number, MountView[]>();
  const machineId = hostIdentity().machineId;
  return (deviceId, fsPath) => {
    const d = devices.get(deviceId);
    if (!d) return fsPath;
    let v = views.get(deviceId);
    if (!v) {
      v = localMountViews(d, mounts);
      views.set(deviceId, v);
    }
    const abs = absolutePath(fsPath, v);
    if (abs) return abs;
    const seen = d.mounts?.find((m) => m.machineId === machineId) ?? d;
    return isUnder(fsPath, seen.mountRoot)
      ? rebase(seen.mountPoint, relativeTo(fsPath, seen.mountRoot))
      : fsPath;
  };
}
