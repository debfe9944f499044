/** A root named on the command line, resolved to the directory and mount it is. */
import { lstatSync, realpathSync } from 'node:fs';
import { UserError, describeErrno } from '../errors.js';
import { findMount, isPseudoFs, type MountEntry } from '../fs/mountinfo.js';
import { displayPath } from '../paths.js';

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
