/**
 * The path as the user sees it: a filesystem path placed under a mount point where that
 * filesystem is mounted now, else under the mount point of its last scan. show-plan prints
 * these paths, and the filters and keep rules look at them.
 */
import type { DeviceRow } from '../catalog/devices.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { isUnder, rebase, relativeTo } from '../paths.js';
import { absolutePath, currentMounts } from '../fs/reachability.js';

export type VisiblePath = (deviceId: number, fsPath: Buffer) => Buffer;

/** Over the catalog's devices (`catalog.planDevices.list()`), read once by the caller. */
export function visiblePathMapper(deviceRows: readonly DeviceRow[]): VisiblePath {
  const mounts = readMountinfo();
  const devices = new Map(deviceRows.map((d) => [d.id, d]));
  const views = new Map<number, ReturnType<typeof currentMounts>>();
  return (deviceId, fsPath) => {
    const d = devices.get(deviceId);
    if (!d) return fsPath;
    let v = views.get(deviceId);
    if (!v) {
      v = currentMounts(d, mounts);
      views.set(deviceId, v);
    }
    const abs = absolutePath(fsPath, v);
    if (abs) return abs;
    return isUnder(fsPath, d.mountRoot)
      ? rebase(d.mountPoint, relativeTo(fsPath, d.mountRoot))
      : fsPath;
  };
}
