/**
 * Where a catalogued filesystem can be reached now. A device is reachable through a current
 * mount that shows the st_dev recorded at its last scan and whose mountinfo root contains the
 * path. The hash workers re-check every file's identity anyway, so a wrong guess can only make
 * a file pending, never give it a wrong hash.
 */
import { lstatSync } from 'node:fs';
import { type MountEntry, splitDev } from './mountinfo.js';
import { isUnder, rebase, relativeTo } from '../paths.js';

/** What the catalog recorded of a filesystem at its last scan (a DeviceRow fits). */
export interface RecordedMount {
  readonly stDev: bigint;
  readonly mountPoint: Buffer;
}

export interface MountView {
  readonly mountPoint: Buffer;
  readonly root: Buffer;
  /** Read-only mounts come last: see currentMounts. */
  readonly readOnly?: boolean;
}

export function currentMounts(device: RecordedMount, mounts: readonly MountEntry[]): MountView[] {
  const { major, minor } = splitDev(device.stDev);
  const out: MountView[] = [];
  for (const m of mounts) {
    const byNumber = m.major === major && m.minor === minor;
    if (!byNumber && !m.mountPoint.equals(device.mountPoint)) continue;
    try {
      if (lstatSync(m.mountPoint, { bigint: true }).dev !== device.stDev) continue;
    } catch {
      continue;
    }
    out.push({ mountPoint: m.mountPoint, root: m.root, readOnly: m.readOnly });
  }
  // Writable mounts first (a path is taken through the first view that shows it, and execute
  // links through it: a read-only mount of the whole filesystem beside a writable bind of a
  // directory would fail every link with EROFS), then the shortest root: the mount that shows
  // most of the filesystem.
  return out.sort(
    (a, b) => Number(a.readOnly) - Number(b.readOnly) || a.root.length - b.root.length,
  );
}

/** The absolute path of a filesystem path through one of `views`, or undefined. */
export function absolutePath(fsPath: Buffer, views: readonly MountView[]): Buffer | undefined {
  for (const v of views) {
    if (isUnder(fsPath, v.root)) return rebase(v.mountPoint, relativeTo(fsPath, v.root));
  }
  return undefined;
}
