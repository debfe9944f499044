/** Real temporary trees and mktree.py trees for tests (mounts: mounts.ts). */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readdirSync, lstatSync } from 'node:fs';
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

// The mount fixtures live in mounts.ts; re-exported for the tests that import them from here.
export {
  bindMount,
  mountImage,
  mountTmpfs,
  mountUnavailableReason,
  requireMounts,
  sh,
  unmount,
  unmountAll,
} from './mounts.js';

/**
 * A UNIX socket at `path` (bound, then left behind as a filesystem entry): Node has no call
 * that makes one without listening, so Python binds it.
 */
export function makeSocket(path: string): void {
  execFileSync('python3', [
    '-c',
    'import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.close()',
    path,
  ]);
}

export function countEntries(dir: string): number {
  return readdirSync(dir).length;
}

export function inodeOf(p: string): bigint {
  return lstatSync(p, { bigint: true }).ino;
}
