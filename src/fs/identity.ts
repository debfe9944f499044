/**
 * Filesystem identity (DESIGN §2): what stays the same when st_dev does not. A device number
 * changes across reboots and hot-plugs; a filesystem UUID, a ZFS dataset GUID or a btrfs
 * UUID + subvolume id does not. Only when none can be had do we fall back to MAJOR:MINOR,
 * flagged unstable so that users and later code know rows may need re-mapping.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { qualifyIdentity } from '../device-identity.js';
import { mountOption, type MountEntry } from './mountinfo.js';
import { superblockUuid } from './superblock.js';

export interface FsIdentity {
  /**
   * e.g. `uuid:…`, `btrfs:UUID:subvol:ID`, `zfs:GUID`, `net:SERVER:/EXPORT`, `dev:MAJ:MIN`
   * (`dev:MAJ:MIN@MACHINE-ID` from `hostDeviceIdentity`).
   */
  readonly identity: string;
  readonly stable: boolean;
  readonly fsType: string;
}

const cache = new Map<string, FsIdentity>();

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
  } catch {
    return undefined;
  }
}

function deviceNumbersOf(path: string): { major: number; minor: number } | undefined {
  try {
    const st = statSync(path);
    if (!st.isBlockDevice()) return undefined;
    const rdev = st.rdev;
    return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & ~0xff) };
  } catch {
    return undefined;
  }
}

/**
 * UUID of a block device, read from the device itself: its superblock, in-process, for ext2/3/4,
 * XFS and btrfs (./superblock.ts), `blkid -p` for any other type; both probe the device and
 * bypass libblkid's cache (/run/blkid/blkid.tab), which answers from memory for about 2 s
 * after a probe: a loop device re-attached to another image and scanned at once was given the
 * previous filesystem's UUID, and its files two devices' rows after the next scan. udev's
 * by-uuid links lag the same way. Both are used only when the device cannot be read (an
 * unprivileged user): the links first, then the cached blkid answer.
 */
function blockUuid(source: string, fsType: string): string | undefined {
  if (!source.startsWith('/dev/')) return undefined;
  const read = superblockUuid(source, fsType);
  if (read.kind === 'uuid') return read.uuid;
  // `blkid -p` would open the same device and fail the same way: one program fewer.
  if (read.kind !== 'unreadable') {
    const probed = run('blkid', ['-p', '-o', 'value', '-s', 'UUID', source]);
    if (probed) return probed;
  }
  const byUuid = '/dev/disk/by-uuid';
  const target = deviceNumbersOf(source);
  if (target && existsSync(byUuid)) {
    try {
      for (const name of readdirSync(byUuid)) {
        const nums = deviceNumbersOf(`${byUuid}/${name}`);
        if (nums && nums.major === target.major && nums.minor === target.minor) return name;
      }
    } catch {
      // fall through to blkid
    }
  }
  const uuid = run('blkid', ['-o', 'value', '-s', 'UUID', source]);
  return uuid ? uuid : undefined;
}

export function resolveIdentity(mount: MountEntry): FsIdentity {
  const key = `${mount.major}:${mount.minor}:${mount.source}:${mount.fsType}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const id = computeIdentity(mount);
  cache.set(key, id);
  return id;
}

/**
 * Filesystems served by another machine. Their device number is an anonymous one of this
 * host's, and their UUID (if any) is not the server's filesystem's: the mount source
 * (`server:/export`, `//server/share`, `user@host:/path`) is what names them for every client.
 */
const NETWORK_FS = new Set([
  'nfs',
  'nfs4',
  'cifs',
  'smb3',
  'smbfs',
  'fuse.sshfs',
  'sshfs',
  '9p',
  'ceph',
  'glusterfs',
  'fuse.glusterfs',
  'lustre',
  'afs',
]);

export function isNetworkFs(fsType: string): boolean {
  return NETWORK_FS.has(fsType);
}

/**
 * The identity this host registers a mount under (README "Several hosts"): the filesystem's
 * own, with a bare device number qualified by the host's machine id, so that two hosts' tmpfs
 * (both `dev:0:NN`) are two devices in a shared catalog.
 */
export function hostDeviceIdentity(mount: MountEntry, machineId: string): FsIdentity {
  const id = resolveIdentity(mount);
  return { ...id, identity: qualifyIdentity(id.identity, machineId) };
}

function computeIdentity(m: MountEntry): FsIdentity {
  const fsType = m.fsType;
  // Never merged with the server's own device by guesswork: the export is a device of its own,
  // the same for every client that mounts it by the same name.
  if (isNetworkFs(fsType) && m.source) return { identity: `net:${m.source}`, stable: true, fsType };
  if (fsType === 'zfs') {
    const guid = run('zfs', ['get', '-Hp', '-o', 'value', 'guid', m.source]);
    if (guid && /^\d+$/.test(guid)) return { identity: `zfs:${guid}`, stable: true, fsType };
  }
  if (fsType === 'btrfs') {
    const uuid = blockUuid(m.source, fsType);
    const subvol = mountOption(m.superOptions, 'subvolid');
    if (uuid) return { identity: `btrfs:${uuid}:subvol:${subvol ?? '5'}`, stable: true, fsType };
  }
  const uuid = blockUuid(m.source, fsType);
  if (uuid) return { identity: `uuid:${uuid}`, stable: true, fsType };
  return { identity: `dev:${m.major}:${m.minor}`, stable: false, fsType };
}

/** Forget cached identities (a test remounts a device; a long-lived process re-reads). */
export function clearIdentityCache(): void {
  cache.clear();
}
