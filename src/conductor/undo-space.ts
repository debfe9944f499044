/**
 * Does an undo fit? (issue 12 §5) Every path it restores gets its own copy, and nothing is freed
 * meanwhile (the kept inode keeps its data), so each filesystem must have room for all of them,
 * counted in whole blocks, before the first copy is made.
 */
import { statfsSync } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { absolutePath } from '../fs/reachability.js';
import { localMountViews } from '../fs/host-reach.js';

export interface SpaceCheck {
  readonly device: string;
  readonly mountPoint: Buffer | undefined;
  readonly paths: number;
  /** Bytes the copies need, rounded up to the filesystem's blocks. */
  readonly needed: number;
  /** Bytes available to this user (statfs f_bavail), when the filesystem is mounted. */
  readonly available: number | undefined;
  readonly fits: boolean;
}

export async function checkUndoSpace(
  catalog: Pick<Catalog, 'undo' | 'planDevices'>,
  planId: number,
): Promise<SpaceCheck[]> {
  const mounts = readMountinfo();
  const devices = new Map((await catalog.planDevices.list()).map((d) => [d.id, d]));
  return (await catalog.undo.needs(planId)).map((n) => {
    const dev = devices.get(n.deviceId);
    const mountPoint = dev
      ? (absolutePath(Buffer.from('/'), localMountViews(dev, mounts)) ??
        localMountViews(dev, mounts)[0]?.mountPoint)
      : undefined;
    let available: number | undefined;
    let bsize = 4096;
    if (mountPoint) {
      try {
        const st = statfsSync(mountPoint);
        available = st.bavail * st.bsize;
        bsize = st.bsize || 4096;
      } catch {
        available = undefined;
      }
    }
    // Whole blocks per file are not known from the catalog: round the total up per file on
    // average (one partial block each), which never under-counts.
    const needed = Math.ceil(n.bytes / bsize) * bsize + n.actions * bsize;
    return {
      device: dev?.alias ?? String(n.deviceId),
      mountPoint,
      paths: n.actions,
      needed,
      available,
      fits: available === undefined || needed <= available,
    };
  });
}
