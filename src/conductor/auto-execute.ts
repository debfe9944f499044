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
import { Scope } from './scope.js';

export interface ScanRoots {
  /** Where to rescan now: the device's recorded scan roots, outermost only, reachable now. */
  readonly roots: Buffer[];
  /** Recorded roots that are gone or not reachable now (reported, not scanned). */
  readonly missing: Buffer[];
}

/**
 * The roots earlier scans of this filesystem started from (recorded as paths inside the
 * filesystem, so a remount elsewhere still finds them), through its current mounts. With a
 * scope (`auto-execute --device DIR` or PATHs), only what of them lies in it: a scope
 * directory inside a root is rescanned itself, a root inside a scope directory whole, and a
 * root beside the scope not at all. A scoped job read the whole filesystem to plan a corner of
 * it. (Paths outside the scope keep their last scan's rows; they take no part in the plan but
 * to pin the inodes they link, and an inode linked from outside keeps its links' count, which
 * the rescan reads anew.)
 */
export async function scanRootsOf(
  catalog: Pick<Catalog, 'execution'>,
  device: DeviceRow,
  scope: Scope = Scope.all,
): Promise<ScanRoots> {
  const recorded = await catalog.execution.scanRoots(device.id);
  const fsPaths = recorded.flatMap((root) => scope.partsOf(device.id, root));
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
