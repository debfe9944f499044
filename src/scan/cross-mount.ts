/**
 * A walk reaching a directory on another filesystem (or an unmounted btrfs subvolume): which
 * device it is, or why it is not descended (pseudo filesystems, --one-file-system, bind mounts of
 * an entered device, boundaries the mount table does not explain).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { isPseudoFs, mountAt, type MountEntry } from '../fs/mountinfo.js';
import { joinPath } from '../paths.js';
import type { PendingDir, WalkHooks, WalkOptions } from './walk-types.js';

/**
 * btrfs subvolume id of a directory (for subvolumes that are not mounted on their own). The
 * directory goes to `btrfs` as its file descriptor 3, named `/proc/self/fd/3`: an argument is a
 * string, which cannot carry a name that is not UTF-8 (such a subvolume was reported unreadable
 * and skipped).
 */
function btrfsRootId(abs: Buffer): string | undefined {
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const out = execFileSync('btrfs', ['inspect-internal', 'rootid', '/proc/self/fd/3'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore', fd],
      timeout: 10_000,
    }).trim();
    return /^\d+$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export async function crossMount(
  abs: Buffer,
  stDev: bigint,
  ino: bigint,
  parent: PendingDir,
  opts: WalkOptions,
  hooks: WalkHooks,
  entered: Set<string>,
): Promise<PendingDir | undefined> {
  const mount = mountAt(opts.mounts, abs);
  if (mount && isPseudoFs(mount.fsType)) {
    hooks.prune('pseudo_filesystem', abs);
    return undefined;
  }
  if (opts.oneFileSystem) {
    hooks.prune('other_filesystem', abs);
    return undefined;
  }
  let identity: string | undefined;
  let fsPath: Buffer;
  let useMount: MountEntry;
  if (mount) {
    useMount = mount;
    fsPath = mount.root;
  } else if (parent.device.fsType === 'btrfs' && stDev !== parent.stDev) {
    // A btrfs subvolume that is not mounted on its own: same filesystem, own inode space.
    const rootId = btrfsRootId(abs);
    const uuid = parent.device.identity.split(':')[1];
    if (!rootId || !uuid) {
      hooks.error(
        abs,
        new Error(
          'btrfs subvolume whose id could not be read (is btrfs-progs installed?); scan it by its own mount',
        ),
      );
      return undefined;
    }
    identity = `btrfs:${uuid}:subvol:${rootId}`;
    fsPath = joinPath(parent.fsPath, abs.subarray(abs.lastIndexOf(0x2f) + 1));
    useMount = {
      mountId: -1,
      parentId: -1,
      major: 0,
      minor: 0,
      root: fsPath,
      mountPoint: abs,
      fsType: 'btrfs',
      source: '',
      superOptions: `subvolid=${rootId}`,
      // Not a mount of its own (this entry only names the subvolume for its device row):
      // whether it can be written is its parent mount's, which execute finds in mountinfo.
      readOnly: false,
    };
  } else {
    hooks.error(
      abs,
      new Error('a filesystem boundary with no entry in /proc/self/mountinfo; not descended'),
    );
    return undefined;
  }
  const device = await hooks.enterMount(useMount, stDev, identity);
  if (!device) return undefined;
  if (entered.has(device.identity)) {
    hooks.prune('bind_mount', abs);
    return undefined;
  }
  entered.add(device.identity);
  return { abs, fsPath, device, stDev, ino, parentDirId: undefined };
}
