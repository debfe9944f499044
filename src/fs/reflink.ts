/**
 * Copy-on-write clones for reflink mode (btrfs, XFS with reflink=1, and any filesystem that
 * implements FICLONE), and what the filesystem says about block sharing (FIEMAP).
 *
 * Node has no ioctl(). `copyFileSync(…, COPYFILE_FICLONE_FORCE)` is FICLONE and fails (EOPNOTSUPP,
 * EXDEV, EINVAL) when no clone is possible — it never falls back to copying bytes. It takes paths:
 * the source is named `/proc/self/fd/N` of the fd we verified (the very inode, whatever happens
 * to its name), and the clone is created exclusively (COPYFILE_EXCL) inside a private staging
 * directory (0700, ours), because libuv gives the new file the *source's* mode: a setuid source
 * cloned by root would otherwise be a root-owned setuid file for a moment, and a file the target's
 * owner may read would be readable by others. Only once the clone carries the target's owner,
 * group, mode and times does it leave the staging directory, by rename over the target.
 *
 * FIEMAP comes from filefrag(8) (e2fsprogs), handed the open files as inherited descriptors
 * (`/dev/fd/N`), so no path is resolved twice and no name can confuse its output.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  copyFileSync,
  fstatSync,
  openSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { displayPath } from '../display-path.js';
import { describeErrno, errnoCode } from '../errors.js';
import { VerifiedDir } from './safe-ops.js';
import { TEMP_PREFIX } from './temp-name.js';
import { baseName, parentOf } from '../paths.js';

export { TEMP_PREFIX };
/** The clone's name inside its staging directory. */
export const CLONE_NAME = Buffer.from('clone');

const CLONE_FLAGS = constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE;

/** errno codes meaning "this filesystem (or this pair of files) cannot share blocks". */
const NO_REFLINK = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS']);

export function cloneErrorText(err: unknown): string {
  const code = errnoCode(err);
  if (code && NO_REFLINK.has(code)) {
    return `cannot clone: ${code} (FICLONE refused: this filesystem or this pair of files does not support reflinks)`;
  }
  return `cannot clone: ${describeErrno(err)}`;
}

export type ReflinkSupport =
  { readonly supported: true } | { readonly supported: false; readonly reason: string };

/**
 * Does the filesystem holding directory `dirAbs` clone files? Creates a 4 KiB probe file
 * (`.hashall-tmp-probe-…`, 0600) there, clones it with FICLONE, and removes both.
 */
export function probeReflink(dirAbs: Buffer): ReflinkSupport {
  let dir: VerifiedDir;
  try {
    dir = VerifiedDir.open(dirAbs);
  } catch (err) {
    return { supported: false, reason: `cannot test for reflinks: ${describeErrno(err)}` };
  }
  const tag = randomBytes(4).toString('hex');
  const a = dir.child(Buffer.from(`${TEMP_PREFIX}probe-${tag}`));
  const b = dir.child(Buffer.from(`${TEMP_PREFIX}probe-${tag}-clone`));
  let made = false;
  try {
    try {
      const fd = openSync(
        a,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      made = true;
      try {
        writeSync(fd, Buffer.alloc(4096, 0x68));
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      return {
        supported: false,
        reason: `cannot test for reflinks (creating a probe file in ${displayPath(dirAbs)}): ${describeErrno(err)}`,
      };
    }
    try {
      copyFileSync(a, b, CLONE_FLAGS);
    } catch (err) {
      const code = errnoCode(err);
      return {
        supported: false,
        reason: `FICLONE failed with ${code && NO_REFLINK.has(code) ? `${code} (not supported by this filesystem)` : describeErrno(err)}`,
      };
    }
    return { supported: true };
  } finally {
    for (const p of made ? [b, a] : []) {
      try {
        unlinkSync(p);
      } catch {
        // the clone was never made
      }
    }
    dir.close();
  }
}

/**
 * A private staging directory (0700, owned by us) in the target's directory, where the clone is
 * made and given its metadata before it is renamed over the target.
 */
export class CloneStage {
  private constructor(
    readonly parent: VerifiedDir,
    readonly name: Buffer,
    readonly dir: VerifiedDir,
  ) {}

  /** mkdir PARENT/NAME 0700 (exclusive) and open it, checking it is ours and private. */
  static create(parent: VerifiedDir, name: Buffer): CloneStage {
    parent.mkdir(name, 0o700);
    let dir: VerifiedDir | undefined;
    try {
      dir = parent.openChild(name);
      const st = fstatSync(dir.fd);
      if (!st.isDirectory() || st.uid !== process.geteuid!() || (st.mode & 0o077) !== 0) {
        throw Object.assign(new Error('the staging directory was tampered with'), {
          code: 'ESTAGE',
        });
      }
      return new CloneStage(parent, name, dir);
    } catch (err) {
      dir?.close();
      try {
        parent.rmdir(name);
      } catch {
        // left for recovery (it is journaled)
      }
      throw err;
    }
  }

  /** The clone's path, resolved through the staging directory's fd. */
  get clonePath(): Buffer {
    return this.dir.child(CLONE_NAME);
  }

  /** FICLONE the open, verified source (by its fd, not its name) into the staging directory. */
  clone(sourceFd: number): void {
    copyFileSync(`/proc/self/fd/${sourceFd}`, this.clonePath, CLONE_FLAGS);
  }

  /**
   * Remove what is left (the clone, if it was never renamed, then the directory). Returns false
   * when something could not be removed (the journal keeps it for recovery).
   */
  remove(): boolean {
    let ok = true;
    try {
      this.dir.unlink(CLONE_NAME);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') ok = false;
    }
    this.dir.close();
    try {
      this.parent.rmdir(this.name);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') ok = false;
    }
    return ok;
  }
}

/**
 * Remove a staging directory left by a killed run: only our clone's name inside it, then the
 * (then empty) directory. `stageAbs` must be a name we made (the journal's, with our prefix).
 */
export function removeStage(stageAbs: Buffer): { removed: boolean; error?: string } {
  let dir: VerifiedDir;
  try {
    dir = VerifiedDir.open(stageAbs);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { removed: false };
    return { removed: false, error: describeErrno(err) };
  }
  try {
    try {
      dir.unlink(CLONE_NAME);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') return { removed: false, error: describeErrno(err) };
    }
  } finally {
    dir.close();
  }
  // The directory itself, relative to its parent opened the same way (never through a symlink).
  try {
    const parent = VerifiedDir.open(parentOf(stageAbs));
    try {
      parent.rmdir(baseName(stageAbs));
    } finally {
      parent.close();
    }
    return { removed: true };
  } catch (err) {
    return { removed: false, error: describeErrno(err) };
  }
}

// --- FIEMAP -----------------------------------------------------------------------------

export interface Extent {
  readonly logical: number;
  readonly physical: number;
  readonly length: number;
  readonly flags: readonly string[];
}

export interface ExtentMap {
  readonly extents: readonly Extent[];
}

/** Extents whose blocks are not the file's own to free, or have no place on the device. */
const NOT_OWN = new Set(['shared', 'inline', 'not_aligned', 'data_inline', 'tail']);

/** Bytes in extents that belong to this file alone: what dropping its data frees. */
export function exclusiveBytes(m: ExtentMap): number {
  let n = 0;
  for (const e of m.extents) if (!e.flags.some((f) => NOT_OWN.has(f))) n += e.length;
  return n;
}

/** True when the file's data lives entirely inline, in filesystem metadata (btrfs). */
export function allInline(m: ExtentMap): boolean {
  return m.extents.length > 0 && m.extents.every((e) => e.flags.includes('inline'));
}

/** Physically contiguous neighbours merged, so that two maps of the same blocks compare equal. */
function normalised(m: ExtentMap): Extent[] {
  const out: Extent[] = [];
  for (const e of [...m.extents].sort((a, b) => a.logical - b.logical)) {
    const last = out[out.length - 1];
    if (
      last &&
      last.logical + last.length === e.logical &&
      last.physical + last.length === e.physical
    ) {
      out[out.length - 1] = { ...last, length: last.length + e.length };
    } else {
      out.push(e);
    }
  }
  return out;
}

const UNPLACED = ['inline', 'unknown_loc', 'delalloc', 'not_aligned', 'encoded', 'data_inline'];

/**
 * Every byte of `a` is the same physical block as the same byte of `b` (a is already a clone of
 * b): replacing a by a clone of b would free nothing.
 */
export function sameBlocks(a: ExtentMap, b: ExtentMap): boolean {
  const x = normalised(a);
  const y = normalised(b);
  if (x.length === 0 || x.length !== y.length) return false;
  return x.every((e, i) => {
    const f = y[i]!;
    return (
      e.logical === f.logical &&
      e.physical === f.physical &&
      e.length === f.length &&
      !e.flags.some((g) => UNPLACED.includes(g)) &&
      !f.flags.some((g) => UNPLACED.includes(g))
    );
  });
}

const FILEFRAG_CHUNK = 200;
let filefragMissing = false;
let filefrag: string | undefined;

/**
 * filefrag lives in /usr/sbin or /sbin on many systems, which cron's PATH (/usr/bin:/bin) lacks:
 * look there too, so a scheduled run prices clones as an interactive one does.
 */
function filefragPath(): string | undefined {
  if (filefrag !== undefined || filefragMissing) return filefrag;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d.startsWith('/')) continue;
    try {
      accessSync(`${d}/filefrag`, constants.X_OK);
      filefrag = `${d}/filefrag`;
      return filefrag;
    } catch {
      // not here
    }
  }
  filefragMissing = true;
  return undefined;
}

/**
 * FIEMAP of each open file (byte units, after flushing its dirty data), or undefined where the
 * filesystem or the system cannot tell (no filefrag, no FIEMAP).
 */
export function extentMaps(fds: readonly number[]): (ExtentMap | undefined)[] {
  const out: (ExtentMap | undefined)[] = [];
  for (let i = 0; i < fds.length; i += FILEFRAG_CHUNK) {
    out.push(...filefragChunk(fds.slice(i, i + FILEFRAG_CHUNK)));
  }
  return out;
}

export function fiemapAvailable(): boolean {
  return filefragPath() !== undefined;
}

const EXTENT_LINE =
  /^\s*\d+:\s*(\d+)\.\.\s*(\d+):\s*(\d+)\.\.\s*(\d+):\s*(\d+):\s*(?:\d+:)?\s*([a-z_,]*)\s*$/;

function filefragChunk(fds: readonly number[]): (ExtentMap | undefined)[] {
  const none = fds.map(() => undefined);
  const exe = filefragPath();
  if (!exe || fds.length === 0) return none;
  // The child sees our fds[i] as its descriptor 3 + i.
  const r = spawnSync(exe, ['-s', '-v', '-b1', ...fds.map((_, i) => `/dev/fd/${3 + i}`)], {
    stdio: ['ignore', 'pipe', 'pipe', ...fds],
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, LC_ALL: 'C' },
  });
  if (r.error) return none;
  const maps = new Map<number, Extent[]>();
  const done = new Set<number>();
  let current: number | undefined;
  for (const line of r.stdout.split('\n')) {
    let m = /^File size of \/dev\/fd\/(\d+) is /.exec(line);
    if (m) {
      current = Number(m[1]) - 3;
      maps.set(current, []);
      continue;
    }
    m = /^\/dev\/fd\/(\d+): \d+ extents? found/.exec(line);
    if (m) {
      done.add(Number(m[1]) - 3);
      current = undefined;
      continue;
    }
    m = EXTENT_LINE.exec(line);
    if (m && current !== undefined) {
      maps.get(current)!.push({
        logical: Number(m[1]),
        physical: Number(m[3]),
        length: Number(m[5]),
        flags: m[6] ? m[6].split(',').filter(Boolean) : [],
      });
    }
  }
  return fds.map((_, i) => (done.has(i) ? { extents: maps.get(i) ?? [] } : undefined));
}
