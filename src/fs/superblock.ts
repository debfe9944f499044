/**
 * A filesystem's UUID read from its superblock, in-process, for the filesystems hashall's users
 * keep their data on (ext2/3/4, XFS, btrfs). It is what `blkid -p` reports for them, read the
 * same way (from the device, past libblkid's cache), without starting a program: a scan named
 * its device with one or two `blkid` runs, 5–20 ms of every scan before its walk could start.
 * Any other filesystem, or a superblock that is not what the mount says, is left to blkid.
 *
 * Offsets, from each filesystem's on-disk format (the kernel's headers, libblkid's probes):
 * - ext2/3/4: the superblock at byte 1,024; `s_magic` (0xEF53, little-endian) at +0x38,
 *   `s_uuid` at +0x68.
 * - XFS: the superblock at byte 0; `sb_magicnum` "XFSB" at +0, `sb_uuid` at +32 (the UUID users
 *   see, which `xfs_admin -U` sets; a `sb_meta_uuid` may differ and is not what blkid reports).
 * - btrfs: the superblock at 64 KiB; `fsid` at +0x20, the magic "_BHRfS_M" at +0x40 (`fsid` is
 *   the UUID users see; with the metadata_uuid feature the metadata's is kept elsewhere).
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';

export type SuperblockUuid =
  /** The superblock names this UUID (lowercase, 8-4-4-4-12, as blkid prints it). */
  | { readonly kind: 'uuid'; readonly uuid: string }
  /** The device cannot be opened or read by this process (EACCES, EPERM, ENOENT, EIO…). */
  | { readonly kind: 'unreadable'; readonly code: string }
  /** Read, but no such superblock there, or one whose UUID is all zeros (blkid reports none). */
  | { readonly kind: 'none' }
  /** A filesystem type this module does not read: ask blkid. */
  | { readonly kind: 'unsupported' };

interface Layout {
  readonly at: number;
  readonly magicAt: number;
  readonly magic: Buffer;
  readonly uuidAt: number;
}

const EXT: Layout = {
  at: 1024,
  magicAt: 0x38,
  magic: Buffer.from([0x53, 0xef]),
  uuidAt: 0x68,
};
const LAYOUTS: Readonly<Record<string, Layout>> = {
  ext2: EXT,
  ext3: EXT,
  ext4: EXT,
  xfs: { at: 0, magicAt: 0, magic: Buffer.from('XFSB', 'latin1'), uuidAt: 32 },
  btrfs: { at: 64 * 1024, magicAt: 0x40, magic: Buffer.from('_BHRfS_M', 'latin1'), uuidAt: 0x20 },
};

/** The UUID of the `fsType` filesystem on the block device `source`. */
export function superblockUuid(source: string, fsType: string): SuperblockUuid {
  const layout = Object.hasOwn(LAYOUTS, fsType) ? LAYOUTS[fsType] : undefined;
  if (!layout) return { kind: 'unsupported' };
  const span = Math.max(layout.magicAt + layout.magic.length, layout.uuidAt + 16);
  const buf = Buffer.alloc(span);
  let fd: number;
  try {
    // O_NONBLOCK as blkid opens: a removable drive without its medium answers at once.
    fd = openSync(source, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return { kind: 'unreadable', code: errorCode(err) };
  }
  try {
    let got = 0;
    while (got < span) {
      const n = readSync(fd, buf, got, span - got, layout.at + got);
      if (n === 0) break;
      got += n;
    }
    if (got < span) return { kind: 'none' };
  } catch (err) {
    return { kind: 'unreadable', code: errorCode(err) };
  } finally {
    closeSync(fd);
  }
  const magic = buf.subarray(layout.magicAt, layout.magicAt + layout.magic.length);
  if (!magic.equals(layout.magic)) return { kind: 'none' };
  const raw = buf.subarray(layout.uuidAt, layout.uuidAt + 16);
  if (raw.every((b) => b === 0)) return { kind: 'none' };
  const hex = raw.toString('hex');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { kind: 'uuid', uuid };
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
}
