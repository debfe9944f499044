/** Real temporary trees, mktree.py trees, and real mounts for tests. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readdirSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** shared/tools/mktree.py beside the checkout, or HASHALL_MKTREE (CI's copies for other Node lines). */
export const MKTREE =
  process.env.HASHALL_MKTREE ||
  fileURLToPath(new URL('../../../shared/tools/mktree.py', import.meta.url));

export function tempDir(prefix = 'hashall-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** rm(1) rather than fs.rmSync: it removes trees deeper than PATH_MAX. */
export function removeTree(dir: string): void {
  spawnSync('chmod', ['-R', 'u+rwx', dir]);
  const r = spawnSync('rm', ['-rf', '--one-file-system', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rm -rf ${dir}: ${r.stderr}`);
}

export interface MktreeSummary {
  regular_file_paths: number;
  distinct_inodes: number;
  dup_groups_by_inode: number;
  hardlink_dedupe_saving_bytes: number;
  redundant_inodes: number;
  [k: string]: unknown;
}

export function mktree(dir: string, args: string[]): MktreeSummary {
  const out = execFileSync('python3', [MKTREE, dir, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as MktreeSummary;
}

/** Write a small tree from a {relative path: content} map. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
}

/**
 * Every regular file below `root` as raw bytes relative to root, listed by find(1), which
 * reaches paths longer than PATH_MAX and never decodes names.
 */
export function findFiles(root: string): Buffer[] {
  const out = execFileSync('find', [root, '-type', 'f', '-printf', '%P\\0'], {
    maxBuffer: 256 << 20,
  });
  const list: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 0) {
      list.push(Buffer.from(out.subarray(start, i)));
      start = i + 1;
    }
  }
  return list;
}

let mountProbe: string | undefined | null = null;

/** Why mounting is impossible here, or undefined when it works. */
export function mountUnavailableReason(): string | undefined {
  if (mountProbe !== null) return mountProbe;
  const d = tempDir('hashall-probe-');
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
const loopImages: string[] = [];

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function mountTmpfs(dir: string, sizeMb = 64): void {
  mkdirSync(dir, { recursive: true });
  sh('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  mounted.push(dir);
}

/** A loop-mounted image of a real filesystem (ext4, xfs, btrfs). */
export function mountImage(
  image: string,
  dir: string,
  fs: 'ext4' | 'xfs' | 'btrfs',
  sizeMb = 64,
): void {
  mkdirSync(dir, { recursive: true });
  sh('truncate', ['-s', `${sizeMb}M`, image]);
  if (fs === 'ext4') sh('mkfs.ext4', ['-q', '-F', image]);
  else if (fs === 'xfs') sh('mkfs.xfs', ['-q', '-f', '-m', 'reflink=1', image]);
  else sh('mkfs.btrfs', ['-q', '-f', image]);
  sh('mount', ['-o', 'loop', image, dir]);
  mounted.push(dir);
  loopImages.push(image);
}

export function bindMount(src: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  sh('mount', ['--bind', src, dir]);
  mounted.push(dir);
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir]);
  const i = mounted.indexOf(dir);
  if (i >= 0) mounted.splice(i, 1);
}

/** Unmount everything this process mounted (afterAll). */
export function unmountAll(): void {
  while (mounted.length) {
    const d = mounted.pop()!;
    const r = spawnSync('umount', [d]);
    if (r.status !== 0) spawnSync('umount', ['-l', d]);
  }
}

export function countEntries(dir: string): number {
  return readdirSync(dir).length;
}

export function inodeOf(p: string): bigint {
  return lstatSync(p, { bigint: true }).ino;
}
