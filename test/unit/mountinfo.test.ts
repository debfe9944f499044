import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMount, mountAt, parseMountinfo, splitDev } from '../../src/fs/mountinfo.js';
import { showsWholeFilesystem } from '../../src/fs/mount-views.js';

const SAMPLE = Buffer.from(
  [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '42 27 7:0 / /mnt/my\\040disk rw,relatime shared:5 - ext4 /dev/loop0 rw',
    '43 27 7:0 /data/sub /srv/bind ro,nosuid,relatime - ext4 /dev/loop0 rw',
    '44 27 0:39 / /mnt/bt rw - btrfs /dev/loop1 rw,subvolid=256,subvol=/home',
    '22 27 0:21 / /proc rw - proc proc rw',
    '',
  ].join('\n'),
);

describe('mountinfo', () => {
  const mounts = parseMountinfo(SAMPLE);

  it('parses fields, optional fields and octal escapes', () => {
    expect(mounts).toHaveLength(5);
    expect(mounts[1]!.mountPoint.toString()).toBe('/mnt/my disk');
    expect(mounts[1]!.fsType).toBe('ext4');
    expect(mounts[1]!.source).toBe('/dev/loop0');
    expect(mounts[2]!.root.toString()).toBe('/data/sub');
    expect(mounts[3]!.superOptions).toContain('subvolid=256');
    // The mount's own options say read-only (the filesystem's, after '-', may still be rw).
    expect(mounts.map((m) => m.readOnly)).toEqual([false, false, true, false, false]);
  });

  it('finds the mount of a path by device number and longest prefix', () => {
    const dev = (7 << 8) | 0;
    expect(findMount(mounts, Buffer.from('/srv/bind/x'), dev)!.mountId).toBe(43);
    expect(findMount(mounts, Buffer.from('/mnt/my disk/a'), dev)!.mountId).toBe(42);
    expect(findMount(mounts, Buffer.from('/home/a'), (254 << 8) | 0)!.mountId).toBe(27);
    expect(mountAt(mounts, Buffer.from('/proc'))!.fsType).toBe('proc');
  });

  it('tells a mount that shows its whole filesystem (or btrfs subvolume) from a bind of a directory', () => {
    const lines = parseMountinfo(
      Buffer.from(
        [
          '27 1 254:0 / / rw - ext4 /dev/vda rw',
          '43 27 254:0 /data/share /srv/share rw - ext4 /dev/vda rw',
          '47 27 0:40 / /mnt/top rw - btrfs /dev/loop0 rw,subvolid=5,subvol=/',
          '48 27 0:41 /sv /mnt/sv rw - btrfs /dev/loop0 rw,subvolid=256,subvol=/sv',
          '49 27 0:41 /sv/dir /mnt/svdir rw - btrfs /dev/loop0 rw,subvolid=256,subvol=/sv',
          '50 27 0:42 /my\\040vol /mnt/v rw - btrfs /dev/loop0 rw,subvolid=257,subvol=/my\\040vol',
          '51 27 0:43 /x /mnt/nosub rw - btrfs /dev/loop0 rw,subvolid=258',
          '',
        ].join('\n'),
      ),
    );
    expect(lines.map((m) => [m.mountId, showsWholeFilesystem(lines, m)])).toEqual([
      [27, true],
      [43, false], // a bind of /data/share
      [47, true],
      [48, true], // the subvolume /sv, mounted on its own
      [49, false], // a bind of a directory inside it
      [50, true], // escaped alike in the root and the option
      [51, false], // no subvol= to tell: not whole (never widens)
    ]);
  });

  it('a network filesystem shows all of itself where no mount of it shows more (its root may be the export path)', () => {
    // Mount points that exist, on one filesystem (the st_dev widestMount compares).
    const dir = mkdtempSync(join(tmpdir(), 'hashall-views-'));
    try {
      mkdirSync(join(dir, 'nfs'));
      mkdirSync(join(dir, 'bind'));
      const lines = parseMountinfo(
        Buffer.from(
          [
            `60 27 0:50 /export/photos ${dir}/nfs rw - nfs4 srv:/export/photos rw,vers=4.2`,
            `61 27 0:50 /export/photos/2024 ${dir}/bind rw - nfs4 srv:/export/photos rw,vers=4.2`,
            '',
          ].join('\n'),
        ),
      );
      expect(lines.map((m) => showsWholeFilesystem(lines, m))).toEqual([true, false]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('splits dev_t like glibc', () => {
    expect(splitDev((254 << 8) | 0)).toEqual({ major: 254, minor: 0 });
    expect(splitDev(0x10300n)).toEqual({ major: 259, minor: 0 });
    // minor above 255 spills into the high bits
    expect(splitDev((7 << 8) | 0x12 | (0x3 << 20))).toEqual({ major: 7, minor: 0x312 });
  });
});
