/** A root named on the command line, resolved to the directory and mount it is. */
import { lstatSync, realpathSync } from 'node:fs';
import { UserError, describeErrno } from '../errors.js';
import { findMount, isPseudoFs, type MountEntry } from '../fs/mountinfo.js';
import { displayPath, isUnder } from '../paths.js';

export interface ResolvedRoot {
  readonly abs: Buffer;
  readonly stDev: bigint;
  readonly ino: bigint;
  readonly mount: MountEntry;
}

/**
 * `root` as given (a command-line argument) or as the catalog recorded it (bytes: a root that
 * `auto-execute --rescan` scans again may be named in any bytes).
 */
export function resolveRoot(given: string | Buffer, mounts: readonly MountEntry[]): ResolvedRoot {
  const root = typeof given === 'string' ? given : displayPath(given);
  let abs: Buffer;
  try {
    // realpath(3) on the bytes. The JS realpathSync decodes the working directory as UTF-8 (a
    // relative root such as `.` inside a directory named in Latin-1 was "not found") and a
    // Buffer path too.
    abs = realpathSync.native(typeof given === 'string' ? Buffer.from(given) : given, {
      encoding: 'buffer',
    });
  } catch (err) {
    throw new UserError(`cannot scan ${root}: ${describeErrno(err)}; check the path`);
  }
  const st = lstatSync(abs, { bigint: true });
  if (!st.isDirectory()) throw new UserError(`cannot scan ${root}: not a directory`);
  const mount = findMount(mounts, abs, st.dev);
  if (!mount)
    throw new UserError(`cannot scan ${root}: no mount found for it in /proc/self/mountinfo`);
  if (isPseudoFs(mount.fsType)) {
    throw new UserError(
      `cannot scan ${root}: it is on a ${mount.fsType} kernel filesystem, which holds no files to catalogue`,
    );
  }
  return { abs, stDev: st.dev, ino: st.ino, mount };
}

/** The st_dev of a path (a root's mount point), or undefined when it cannot be looked at. */
export function safeDev(path: Buffer): bigint | undefined {
  try {
    return lstatSync(path, { bigint: true }).dev;
  } catch {
    return undefined;
  }
}

/**
 * The mount to record for a filesystem reached through `via`: the one that shows the most of it.
 * A scan through a bind mount of a subdirectory (`mount --bind /srv/data/photos /mnt/p`) would
 * otherwise record `/mnt/p` as where the filesystem is mounted, and `hashall devices` would go
 * on showing it after that bind is gone. Candidates are mounts of the same device number whose
 * root contains `via`'s (so they show everything `via` shows) and whose mount point answers
 * with `via`'s st_dev now (not covered by another mount); the shortest root wins, `via` itself
 * on a tie. Only what is recorded changes: the scan's paths are still taken through `via`.
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
