/**
 * Device identity read from the device itself (issue 12 §6.5): libblkid's cache answers for
 * about 2 s after a probe, so a loop device re-attached to another image and scanned at once
 * was registered with the previous filesystem's UUID, and the next scan registered a second
 * device, leaving every file with two active rows. Needs root (losetup, mount).
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
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
  mountImage,
  mountLoop,
  requireMounts,
  sh,
  unmount,
  unmountAll,
  type ImageFs,
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

describe('device identity read from the superblock', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('hashall-superblock-id-');
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  // A `blkid` first on PATH that notes each run, then runs the real one: a scan of these
  // filesystems reads their UUID itself (src/fs/superblock.ts) and starts no program for it.
  function blkidShim(): { env: Record<string, string>; runs: () => string[] } {
    const bin = join(dir, 'bin');
    const log = join(dir, 'blkid.log');
    mkdirSync(bin, { recursive: true });
    const real = sh('sh', ['-c', 'command -v blkid']).trim();
    writeFileSync(join(bin, 'blkid'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`);
    chmodSync(join(bin, 'blkid'), 0o755);
    writeFileSync(log, '');
    return {
      env: { PATH: `${bin}:${process.env.PATH ?? ''}` },
      runs: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    };
  }

  it.for(['ext4', 'xfs', 'btrfs'] as ImageFs[])(
    'a scan of %s names the device as blkid -p does, without running blkid',
    (fs, ctx) => {
      requireMounts(ctx);
      const mnt = join(dir, `${fs}.mnt`);
      mountImage(join(dir, `${fs}.img`), mnt, fs, 320);
      writeFileSync(join(mnt, 'a.txt'), 'same');
      writeFileSync(join(mnt, 'b.txt'), 'same');
      const source = sh('findmnt', ['-n', '-o', 'SOURCE', '--target', mnt]).trim();
      const uuid = sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', source]).trim();
      expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
      const shim = blkidShim();
      const cat = join(dir, `${fs}.db`);
      const r = hashall(['scan', mnt, '--catalog', cat, '--quiet'], { env: shim.env });
      expect(r.code).toBe(0);
      const want = fs === 'btrfs' ? `btrfs:${uuid}:subvol:5` : `uuid:${uuid}`;
      expect(devicesOf(cat).map((d) => d.identity)).toEqual([want]);
      expect(shim.runs()).toEqual([]);
    },
  );

  it("a device this user cannot read: no probe is started, blkid's cache names it (as nobody)", (ctx) => {
    requireMounts(ctx);
    const mnt = join(dir, 'nobody.mnt');
    mountImage(join(dir, 'nobody.img'), mnt, 'ext4', 32);
    const tree = join(mnt, 't');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a.txt'), 'same');
    const source = sh('findmnt', ['-n', '-o', 'SOURCE', '--target', mnt]).trim();
    const uuid = sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', source]).trim();
    sh('blkid', [source]); // what the cache (/run/blkid/blkid.tab) then holds for it
    const shim = blkidShim();
    const catDir = join(dir, 'nobody-cat');
    mkdirSync(catDir);
    sh('chown', ['-R', '65534:65534', tree, catDir]);
    sh('chmod', ['755', dir, mnt, join(dir, 'bin')]);
    sh('chmod', ['666', join(dir, 'blkid.log')]);
    const cat = join(catDir, 'c.db');
    const r = hashall(['scan', tree, '--catalog', cat, '--quiet'], {
      env: shim.env,
      asUser: { uid: 65534, gid: 65534 },
    });
    expect(r.code).toBe(0);
    // The device node is root's: the superblock read fails, and so would `blkid -p`.
    expect(shim.runs().filter((line) => line.startsWith('-p'))).toEqual([]);
    expect(devicesOf(cat).map((d) => d.identity)).toEqual([`uuid:${uuid}`]);
  });
});
