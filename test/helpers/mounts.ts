/**
 * Mount fixtures for tests that need real filesystems: tmpfs, loop-mounted images (ext4, xfs,
 * btrfs), bind mounts, proc, and loop devices attached by hand. Everything mounted or attached
 * here is recorded, so that `unmountAll()` in afterAll cleans up whatever a failed test left.
 * Tests call `requireMounts(ctx)` first: skipped with the reason where mounting is not
 * permitted, a failure where CI requires mounts (HASHALL_REQUIRE_MOUNTS=1).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ImageFs = 'ext4' | 'xfs' | 'btrfs';

let mountProbe: string | undefined | null = null;

/** Why mounting is impossible here, or undefined when it works. */
export function mountUnavailableReason(): string | undefined {
  if (mountProbe !== null) return mountProbe;
  const d = mkdtempSync(join(tmpdir(), 'hashall-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', d], { encoding: 'utf8' });
  if (r.status === 0) {
    spawnSync('umount', [d]);
    mountProbe = undefined;
  } else {
    mountProbe = `mount is not permitted here (${(r.stderr || r.error?.message || '').trim()})`;
  }
  rmSync(d, { recursive: true, force: true });
  return mountProbe;
}

/**
 * Skip a test that needs mounts, with its reason, unless CI requires them
 * (HASHALL_REQUIRE_MOUNTS=1), where a missing capability is a failure.
 */
export function requireMounts(ctx: { skip: (note?: string) => void }): void {
  const reason = mountUnavailableReason();
  if (!reason) return;
  if (process.env.HASHALL_REQUIRE_MOUNTS === '1')
    throw new Error(`mount tests are required: ${reason}`);
  console.warn(`skipping: ${reason}`);
  ctx.skip(reason);
}

const mounted: string[] = [];
const loops: string[] = [];

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function mountAt(dir: string, args: string[]): void {
  mkdirSync(dir, { recursive: true });
  sh('mount', [...args, dir]);
  mounted.push(dir);
}

export function mountTmpfs(dir: string, sizeMb = 64): void {
  mountAt(dir, ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs']);
}

/** A fresh image file of `sizeMb` holding an empty filesystem of type `fs`. */
export function makeImage(image: string, fs: ImageFs, sizeMb = 64): void {
  sh('truncate', ['-s', `${sizeMb}M`, image]);
  if (fs === 'ext4') sh('mkfs.ext4', ['-q', '-F', image]);
  else if (fs === 'xfs') sh('mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', image]);
  else sh('mkfs.btrfs', ['-q', '-f', image]);
}

/** Mount an existing image through a loop device the kernel picks. */
export function mountLoop(image: string, dir: string): void {
  mountAt(dir, ['-o', 'loop', image]);
}

/** A loop-mounted image of a real filesystem (ext4, xfs, btrfs), made fresh. */
export function mountImage(image: string, dir: string, fs: ImageFs, sizeMb = 64): void {
  makeImage(image, fs, sizeMb);
  mountLoop(image, dir);
}

/** Mount a block device (a loop device from attachLoop). */
export function mountDevice(device: string, dir: string): void {
  mountAt(dir, [device]);
}

/** Mount one btrfs subvolume (its path inside the filesystem) of a block device on its own. */
export function mountSubvolume(device: string, subvol: string, dir: string): void {
  mountAt(dir, ['-o', `subvol=${subvol}`, device]);
}

export function bindMount(src: string, dir: string): void {
  mountAt(dir, ['--bind', src]);
}

/** A proc filesystem: a kernel filesystem a scan must not descend into. */
export function mountProc(dir: string): void {
  mountAt(dir, ['-t', 'proc', 'proc']);
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir]);
  const i = mounted.indexOf(dir);
  if (i >= 0) mounted.splice(i, 1);
}

/** Attach an image to a free loop device (`device` to re-use a given one); returns the device. */
export function attachLoop(image: string, device?: string): string {
  const dev = device
    ? (sh('losetup', [device, image]), device)
    : sh('losetup', ['-f', '--show', image]).trim();
  loops.push(dev);
  return dev;
}

export function detachLoop(device: string): void {
  spawnSync('losetup', ['-d', device]);
  const i = loops.indexOf(device);
  if (i >= 0) loops.splice(i, 1);
}

/** Unmount everything this process mounted and detach its loop devices (afterAll). */
export function unmountAll(): void {
  while (mounted.length) {
    const d = mounted.pop()!;
    const r = spawnSync('umount', [d]);
    if (r.status !== 0) spawnSync('umount', ['-l', d]);
  }
  while (loops.length) spawnSync('losetup', ['-d', loops.pop()!]);
}
