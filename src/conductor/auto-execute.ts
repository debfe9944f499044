/**
 * `conductor auto-execute`: (rescan,) plan, and execute without asking only when the plan saves
 * at least the threshold. The decisions (which roots, whether to run) live here; the pipeline
 * itself is in auto-execute-run.ts.
 */
import { lstatSync } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { byteKey, isUnder } from '../paths.js';
import { absolutePath } from '../fs/reachability.js';
import { localMountViews } from '../fs/host-reach.js';

export interface ScanRoots {
  /** Where to rescan now: the device's recorded scan roots, outermost only, reachable now. */
  readonly roots: Buffer[];
  /** Recorded roots that are gone or not reachable now (reported, not scanned). */
  readonly missing: Buffer[];
}

/**
 * The roots earlier scans of this filesystem started from (recorded as paths inside the
 * filesystem, so a remount elsewhere still finds them), through its current mounts.
 */
export async function scanRootsOf(
  catalog: Pick<Catalog, 'execution'>,
  device: DeviceRow,
): Promise<ScanRoots> {
  const fsPaths = await catalog.execution.scanRoots(device.id);
  const views = localMountViews(device, readMountinfo());
  const roots: Buffer[] = [];
  const missing: Buffer[] = [];
  for (const p of fsPaths) {
    const abs = absolutePath(p, views);
    let ok = false;
    if (abs) {
      try {
        ok = lstatSync(abs).isDirectory();
      } catch {
        ok = false;
      }
    }
    if (ok) roots.push(abs!);
    else missing.push(abs ?? p);
  }
  // Outermost roots only: scanning /pool covers /pool/media.
  const sorted = [...new Map(roots.map((r) => [byteKey(r), r])).values()].sort(
    (a, b) => a.length - b.length,
  );
  const outer: Buffer[] = [];
  for (const r of sorted) if (!outer.some((o) => isUnder(r, o))) outer.push(r);
  return { roots: outer, missing };
}

export type Decision =
  | { readonly run: true }
  | { readonly run: false; readonly reason: string; readonly why: 'below-threshold' | 'nothing' };

/** Run only when the plan has something to do and saves at least `minSavings` bytes. */
export function decide({
  bytesSaveable,
  replacements,
  minSavings,
}: {
  readonly bytesSaveable: number;
  readonly replacements: number;
  readonly minSavings: number;
}): Decision {
  if (replacements === 0)
    return { run: false, why: 'nothing', reason: 'the plan has nothing to replace' };
  if (bytesSaveable < minSavings)
    return {
      run: false,
      why: 'below-threshold',
      reason: `the plan would save ${bytesSaveable} bytes, below --min-savings ${minSavings}`,
    };
  return { run: true };
}
