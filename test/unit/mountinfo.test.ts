import { describe, expect, it } from 'vitest';
import { findMount, mountAt, parseMountinfo, splitDev } from '../../src/fs/mountinfo.js';

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

  it('splits dev_t like glibc', () => {
    expect(splitDev((254 << 8) | 0)).toEqual({ major: 254, minor: 0 });
    expect(splitDev(0x10300n)).toEqual({ major: 259, minor: 0 });
    // minor above 255 spills into the high bits
    expect(splitDev((7 << 8) | 0x12 | (0x3 << 20))).toEqual({ major: 7, minor: 0x312 });
  });
});
