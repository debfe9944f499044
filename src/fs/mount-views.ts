/**
 * How much of its filesystem a mount shows. A bind mount of a subdirectory
 * (`mount --bind /srv/data/photos /mnt/p`) shows one directory of its filesystem; a scan records
 * the view that shows the most (widestMount), and `--device` at a mount point means the whole
 * filesystem only where the mount shows all of it (showsWholeFilesystem).
 */
import { lstatSync } from 'node:fs';
import { isUnder } from '../paths.js';
import { isNetworkFs } from './identity.js';
import { mountOption, unescapeOctal, type MountEntry } from './mountinfo.js';

/** The st_dev of a path (a mount point), or undefined when it cannot be looked at. */
export function safeDev(path: Buffer): bigint | undefined {
  try {
    return lstatSync(path, { bigint: true }).dev;
  } catch {
    return undefined;
  }
}

/**
 * The mount to record for a filesystem reached through `via`: the one that shows the most of it.
 * A scan through a bind mount of a subdirectory would otherwise record `/mnt/p` as where the
 * filesystem is mounted, and `hashall devices` would go on showing it after that bind is gone.
 * Candidates are mounts of the same device number whose root contains `via`'s (so they show
 * everything `via` shows) and whose mount point answers with `via`'s st_dev now (not covered by
 * another mount, not another btrfs subvolume); the shortest root wins, `via` itself on a tie.
 */
export function widestMount(mounts: readonly MountEntry[], via: MountEntry): MountEntry {
  const stDev = safeDev(via.mountPoint);
  if (stDev === undefined) return via;
  let best = via;
  for (const m of mounts) {
    if (m === via || m.major !== via.major || m.minor !== via.minor) continue;
    if (m.fsType !== via.fsType || m.root.length >= best.root.length) continue;
    if (!isUnder(via.root, m.root) || safeDev(m.mountPoint) !== stDev) continue;
    best = m;
  }
  return best;
}

/**
 * Whether a mount shows its whole filesystem, not one directory of it as a bind mount of a
 * subdirectory does:
 * - a local filesystem: its root is `/` (on btrfs, where each subvolume is a device of its own
 *   here: the subvolume's own `subvol=` path);
 * - a network filesystem (whose device is the export it mounts, and whose root the kernel may
 *   show as the export's path on the server): no mount of it shows more (widestMount).
 * Unsure (an option that cannot be read back exactly): not whole, so that `--device` never
 * widens.
 */
export function showsWholeFilesystem(mounts: readonly MountEntry[], m: MountEntry): boolean {
  if (isNetworkFs(m.fsType)) return widestMount(mounts, m) === m;
  const own = m.fsType === 'btrfs' ? mountOption(m.superOptions, 'subvol') : '/';
  return own !== undefined && m.root.equals(unescapeOctal(Buffer.from(own, 'utf8')));
}
