/**
 * Device identity read from the device itself (issue 12 §6.5): libblkid's cache answers for
 * about 2 s after a probe, so a loop device re-attached to another image and scanned at once
 * was registered with the previous filesystem's UUID, and the next scan registered a second
 * device, leaving every file with two active rows. Needs root (losetup, mount).
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { countRows } from '../helpers/catalog.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import {
  attachLoop,
  detachLoop,
  makeImage,
  mountDevice,
  mountLoop,
  requireMounts,
  sh,
  unmount,
  unmountAll,
} from '../helpers/mounts.js';

interface Dev {
  identity: string;
  mount_point: string;
  files: number;
}

const devicesOf = (cat: string) =>
  hashall(['devices', '--catalog', cat, '--json']).json<{ devices: Dev[] }>().devices;

/** An ext4 image holding `files`; returns its UUID. */
function imageWith(image: string, files: Record<string, string>): string {
  makeImage(image, 'ext4', 32);
  const m = `${image}.mnt`;
  mountLoop(image, m);
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(m, name), content);
  } finally {
    unmount(m);
  }
  return sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', image]).trim();
}

describe('device identity of a re-attached loop device', () => {
  let dir: string;
  let mnt: string;
  beforeAll(() => {
    dir = tempDir('hashall-identity-');
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('registers the filesystem now on the device, not the one the blkid cache remembers', (ctx) => {
    requireMounts(ctx);
    const files = { 'one.txt': 'same content', 'two.txt': 'same content', 'three.txt': 'x' };
    const uuidA = imageWith(join(dir, 'a.img'), files);
    const uuidB = imageWith(join(dir, 'b.img'), files);
    expect(uuidA).not.toBe(uuidB);
    const cat = join(dir, 'catalog.db');

    const loop = attachLoop(join(dir, 'a.img'));
    mountDevice(loop, mnt);
    expect(hashall(['scan', mnt, '--catalog', cat, '--quiet']).code).toBe(0);
    // What libblkid's cache now holds for the loop device: image A, fresh for ~2 s.
    sh('blkid', [loop]);
    unmount(mnt);
    detachLoop(loop);
    attachLoop(join(dir, 'b.img'), loop);
    mountDevice(loop, mnt);
    expect(hashall(['scan', mnt, '--catalog', cat, '--quiet']).code).toBe(0);

    const here = realpathSync(mnt);
    const current = () => devicesOf(cat).filter((d) => d.mount_point === here);
    expect(current().map((d) => d.identity)).toContain(`uuid:${uuidB}`);
    const b = devicesOf(cat).find((d) => d.identity === `uuid:${uuidB}`)!;
    expect(b.files).toBe(3);
    const a = devicesOf(cat).find((d) => d.identity === `uuid:${uuidA}`)!;
    expect(a.files).toBe(3); // A's rows stay A's: it is not mounted, nothing was deleted

    // A later scan (when any cache has caught up) finds the same device: no second copy.
    expect(hashall(['scan', mnt, '--catalog', cat, '--quiet']).code).toBe(0);
    expect(devicesOf(cat)).toHaveLength(2);
    expect(countRows(cat)).toBe(6);
  });
});
