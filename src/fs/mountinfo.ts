/**
 * /proc/self/mountinfo, read as bytes: mount points may hold any byte but '\0', and the
 * kernel escapes space, tab, newline and backslash as octal (\040 …).
 */
import { readFileSync } from 'node:fs';
import { isUnder } from '../paths.js';

export interface MountEntry {
  readonly mountId: number;
  readonly parentId: number;
  readonly major: number;
  readonly minor: number;
  /** The directory of the filesystem that is mounted here ('/' unless a bind or subvolume). */
  readonly root: Buffer;
  readonly mountPoint: Buffer;
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: string;
  /** This mount is read-only (`ro` in its own options): its files cannot be linked through it. */
  readonly readOnly: boolean;
}

/** Kernel filesystems that hold no user data: never descended. */
const PSEUDO_FS = new Set([
  'proc',
  'sysfs',
  'cgroup',
  'cgroup2',
  'devpts',
  'devtmpfs',
  'debugfs',
  'tracefs',
  'securityfs',
  'pstore',
  'bpf',
  'mqueue',
  'hugetlbfs',
  'configfs',
  'fusectl',
  'binfmt_misc',
  'autofs',
  'rpc_pipefs',
  'nsfs',
  'efivarfs',
  'selinuxfs',
  'ramfs',
]);

export function isPseudoFs(fsType: string): boolean {
  return PSEUDO_FS.has(fsType);
}

export function unescapeOctal(field: Buffer): Buffer {
  if (!field.includes(0x5c)) return field;
  const out: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c === 0x5c && isOctal(field, i + 1)) {
      out.push(parseInt(field.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out);
}

function isOctal(b: Buffer, at: number): boolean {
  if (at + 3 > b.length) return false;
  for (let k = at; k < at + 3; k++) {
    const c = b[k]!;
    if (c < 0x30 || c > 0x37) return false;
  }
  return true;
}

function splitSpaces(line: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= line.length; i++) {
    if (i === line.length || line[i] === 0x20) {
      parts.push(line.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

export function parseMountinfo(text: Buffer): MountEntry[] {
  const entries: MountEntry[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(0x0a, start);
    if (end < 0) end = text.length;
    const line = text.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue;
    const f = splitSpaces(line);
    const sep = f.findIndex((x, i) => i >= 6 && x.length === 1 && x[0] === 0x2d);
    if (sep < 0 || f.length < sep + 4) continue;
    const [major, minor] = f[2]!.toString('latin1').split(':').map(Number);
    entries.push({
      mountId: Number(f[0]!.toString('latin1')),
      parentId: Number(f[1]!.toString('latin1')),
      major: major ?? 0,
      minor: minor ?? 0,
      root: Buffer.from(unescapeOctal(f[3]!)),
      mountPoint: Buffer.from(unescapeOctal(f[4]!)),
      fsType: f[sep + 1]!.toString('utf8'),
      source: unescapeOctal(f[sep + 2]!).toString('utf8'),
      superOptions: f[sep + 3]!.toString('utf8'),
      readOnly: f[5]!.toString('latin1').split(',').includes('ro'),
    });
  }
  return entries;
}

/** The value of `key=` in a mount's options (super options: `subvolid=5,subvol=/@home`). */
export function mountOption(options: string, key: string): string | undefined {
  for (const opt of options.split(',')) {
    if (opt.startsWith(`${key}=`)) return opt.slice(key.length + 1);
  }
  return undefined;
}

export function readMountinfo(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo'));
}

/** Linux dev_t → (major, minor), as glibc's gnu_dev_major/minor. */
export function splitDev(dev: bigint | number): { major: number; minor: number } {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * The mount that `absPath` (resolved, no symlinks) lives on. Several mounts may stack at one
 * point; the one listed last is the one visible. Matching on the device number first means a
 * path is attributed to the filesystem it is really on; btrfs subvolumes that are not mounted
 * have their own anonymous device numbers, so the longest prefix is the fallback.
 */
export function findMount(
  mounts: readonly MountEntry[],
  absPath: Buffer,
  dev: bigint | number,
): MountEntry | undefined {
  const { major, minor } = splitDev(dev);
  let best: MountEntry | undefined;
  let bestByPrefix: MountEntry | undefined;
  for (const m of mounts) {
    if (!isUnder(absPath, m.mountPoint)) continue;
    if (!bestByPrefix || m.mountPoint.length >= bestByPrefix.mountPoint.length) bestByPrefix = m;
    if (m.major === major && m.minor === minor) {
      if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
    }
  }
  return best ?? bestByPrefix;
}

/** The mount whose mount point is exactly `absPath` (the visible one), if any. */
export function mountAt(mounts: readonly MountEntry[], absPath: Buffer): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const m of mounts) if (m.mountPoint.equals(absPath)) found = m;
  return found;
}
