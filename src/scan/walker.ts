/**
 * The directory walk. Never follows a symlink, opens no file (only lists directories and
 * lstat()s entries), and reports each directory once with its regular files and what it
 * could not look at, so that the merge knows which rows it may delete.
 */
import { execFileSync } from 'node:child_process';
import type { BigIntStats } from 'node:fs';
import type { EntryKind, EntryStat } from '../fs/dir-list.js';
import { openDirLister } from '../fs/lister.js';
import { type MountEntry, isPseudoFs, mountAt } from '../fs/mountinfo.js';
import { PathReach } from '../fs/reach.js';
import { hasTempPrefix } from '../fs/temp-name.js';
import { failpointDelayMs } from '../failpoint.js';
import { byteKey, joinPath, relativeTo } from '../paths.js';
import type { FileMeta } from '../catalog/tree.js';

export interface DeviceContext {
  readonly deviceId: number;
  readonly identity: string;
  readonly fsType: string;
}

export interface ListedFile {
  readonly name: Buffer;
  readonly meta: FileMeta;
}

export interface DirListing {
  readonly abs: Buffer;
  readonly fsPath: Buffer;
  readonly device: DeviceContext;
  readonly parentDirId: number | undefined;
  readonly files: readonly ListedFile[];
  /** Subdirectories on the same filesystem (they will be listed in turn). */
  readonly subdirs: readonly Buffer[];
  /** Names present but not looked at (errors, exclusions, mount points): their rows stay. */
  readonly kept: readonly Buffer[];
  /**
   * The listing's fingerprint (dir-list.ts) when the listing alone decides this result: none
   * when a name was kept (an exclusion, an error, a mount point, a temporary link), which
   * depends on more than the listing.
   */
  readonly fingerprint: Buffer | undefined;
}

export type SkipKind = 'symlink' | 'fifo' | 'socket' | 'device' | 'other';
export type PruneKind = 'excluded' | 'other_filesystem' | 'pseudo_filesystem' | 'bind_mount';

export interface WalkHooks {
  /** A filesystem mounted below the root: its device context, or undefined to not descend. */
  enterMount(
    mount: MountEntry,
    stDev: bigint,
    identity: string | undefined,
  ): Promise<DeviceContext | undefined>;
  /**
   * Merge a listed directory; resolves to its catalog id (the parent of its subdirectories).
   * The walk goes on only once it has resolved.
   */
  listing(l: DirListing): Promise<number>;
  /** After each listing: a promise to wait for before going on (backpressure), if any. */
  afterListing?(): Promise<void> | undefined;
  /** A directory or entry that could not be read. */
  error(abs: Buffer, err: unknown): void;
  skip(kind: SkipKind): void;
  prune(kind: PruneKind, abs: Buffer): void;
}

export interface WalkOptions {
  readonly oneFileSystem: boolean;
  readonly mounts: readonly MountEntry[];
  /** true when the entry (path relative to the root, its name) is excluded. */
  readonly isExcluded?: (rel: Buffer, name: Buffer, isDir: boolean) => boolean;
  readonly shouldStop: () => boolean;
}

interface PendingDir {
  readonly abs: Buffer;
  readonly fsPath: Buffer;
  readonly device: DeviceContext;
  readonly stDev: bigint;
  /** The inode lstat showed when the parent was listed: what we must find when we open it. */
  readonly ino: bigint;
  parentDirId: number | undefined;
}

// Test-only: slow the walk down so that a test can interrupt it at a known phase.
const TEST_DIR_DELAY_MS = failpointDelayMs('scan-dir');

export function isOurTempLink(name: Buffer): boolean {
  return hasTempPrefix(name);
}

export function toMeta(st: BigIntStats): FileMeta {
  return {
    inode: BigInt.asIntN(64, st.ino),
    nlink: Number(st.nlink),
    size: st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    blocks: Number(st.blocks),
  };
}

/** The same, from a listing's entry (native or JS). */
function entryMeta(st: EntryStat): FileMeta {
  return {
    inode: BigInt.asIntN(64, st.ino),
    nlink: st.nlink,
    size: st.size,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    blocks: st.blocks,
  };
}

function skipKind(kind: EntryKind): SkipKind {
  switch (kind) {
    case 'symlink':
    case 'fifo':
    case 'socket':
      return kind;
    case 'block':
    case 'char':
      return 'device';
    default:
      return 'other';
  }
}

/** btrfs subvolume id of a directory (for subvolumes that are not mounted on their own). */
function btrfsRootId(abs: Buffer): string | undefined {
  try {
    const out = execFileSync('btrfs', ['inspect-internal', 'rootid', abs.toString('utf8')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
    return /^\d+$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Where a walk starts: the root directory, as the parent of its first listing would see it. */
export interface WalkRoot {
  readonly abs: Buffer;
  /** Its path within its filesystem (what the catalog stores). */
  readonly fsPath: Buffer;
  readonly device: DeviceContext;
  /** What lstat showed when the root was resolved: what opening it must find. */
  readonly stDev: bigint;
  readonly ino: bigint;
}

export interface WalkParams {
  readonly root: WalkRoot;
  readonly hooks: WalkHooks;
  readonly options: WalkOptions;
}

export async function walk({
  root,
  hooks,
  options: opts,
}: WalkParams): Promise<{ stopped: boolean }> {
  const reach = new PathReach();
  // Native (getdents64 + statx relative to the directory's fd) when the addon loaded, else Node's fs.
  const lister = openDirLister();
  const entered = new Set<string>([root.device.identity]);
  const mountPoints = new Set(opts.mounts.map((m) => byteKey(m.mountPoint)));
  const stack: PendingDir[] = [
    {
      abs: root.abs,
      fsPath: root.fsPath,
      device: root.device,
      stDev: root.stDev,
      ino: root.ino,
      parentDirId: undefined,
    },
  ];
  let lastYield = Date.now();
  try {
    while (stack.length > 0) {
      if (opts.shouldStop()) return { stopped: true };
      if (Date.now() - lastYield > 50) {
        // Let signal handlers and the progress display run.
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
        if (opts.shouldStop()) return { stopped: true };
      }
      if (TEST_DIR_DELAY_MS > 0) {
        await new Promise((r) => setTimeout(r, TEST_DIR_DELAY_MS));
        if (opts.shouldStop()) return { stopped: true };
      }
      const dir = stack.pop()!;
      // Open the directory itself (never through a symlink) and make sure it is the one the
      // parent listed: a directory swapped for a symlink or moved mid-scan is not walked.
      // Its entries are then stat()ed relative to it, so nothing below can be redirected.
      let read;
      try {
        read = await lister.list(reach.reach(dir.abs), { dev: dir.stDev, ino: dir.ino });
      } catch (err) {
        hooks.error(dir.abs, err); // reaching a path beyond PATH_MAX failed
        continue;
      }
      if (read.kind === 'failed') {
        hooks.error(dir.abs, read.error);
        continue; // unlisted: its rows and its subtree's rows stay as they are
      }
      if (read.kind === 'changed') {
        hooks.error(
          dir.abs,
          new Error(
            'the directory changed while it was being scanned (replaced or moved); not walked',
          ),
        );
        continue;
      }
      const files: ListedFile[] = [];
      const subdirs: Buffer[] = [];
      const kept: Buffer[] = [];
      const children: PendingDir[] = [];
      for (const d of read.entries) {
        const name = d.name;
        if (isOurTempLink(name)) {
          // A link a running (or killed) execute made: transient, never catalogued.
          kept.push(name);
          continue;
        }
        // The entry's full path, made only when needed: for most files it never is, and making
        // it for each of them was a tenth of an unchanged rescan's JavaScript time.
        let absPath: Buffer | undefined;
        const absOf = (): Buffer => (absPath ??= joinPath(dir.abs, name));
        const isDir = d.kind === 'dir';
        if (opts.isExcluded && opts.isExcluded(relativeTo(absOf(), root.abs), name, isDir)) {
          hooks.prune('excluded', absOf());
          kept.push(name);
          continue;
        }
        if (d.kind === 'file') {
          let st: EntryStat;
          try {
            st = d.stat();
          } catch (err) {
            hooks.error(absOf(), err);
            kept.push(name);
            continue;
          }
          // The entry may have been swapped since readdir: trust lstat, not d_type.
          if (st.kind !== 'file') {
            if (st.kind !== 'dir') hooks.skip(skipKind(st.kind));
            continue;
          }
          files.push({ name, meta: entryMeta(st) });
        } else if (isDir) {
          let st: EntryStat;
          try {
            st = d.stat();
          } catch (err) {
            hooks.error(absOf(), err);
            kept.push(name);
            continue;
          }
          if (st.kind !== 'dir') {
            hooks.skip(skipKind(st.kind));
            continue;
          }
          const crossing = st.dev !== dir.stDev || mountPoints.has(byteKey(absOf()));
          if (!crossing) {
            subdirs.push(name);
            children.push({
              abs: absOf(),
              fsPath: joinPath(dir.fsPath, name),
              device: dir.device,
              stDev: st.dev,
              ino: st.ino,
              parentDirId: undefined,
            });
            continue;
          }
          kept.push(name);
          const next = await crossMount(absOf(), st.dev, st.ino, dir, opts, hooks, entered);
          if (next) children.push(next);
        } else {
          hooks.skip(skipKind(d.kind));
        }
      }
      const dirId = await hooks.listing({
        abs: dir.abs,
        fsPath: dir.fsPath,
        device: dir.device,
        parentDirId: dir.parentDirId,
        files,
        subdirs,
        kept,
        fingerprint: kept.length === 0 ? read.fingerprint : undefined,
      });
      const pause = hooks.afterListing?.();
      if (pause) await pause;
      for (let i = children.length - 1; i >= 0; i--) {
        const c = children[i]!;
        if (c.device === dir.device) c.parentDirId = dirId;
        stack.push(c);
      }
    }
    return { stopped: false };
  } finally {
    lister.close();
    reach.close();
  }
}

async function crossMount(
  abs: Buffer,
  stDev: bigint,
  ino: bigint,
  parent: PendingDir,
  opts: WalkOptions,
  hooks: WalkHooks,
  entered: Set<string>,
): Promise<PendingDir | undefined> {
  const mount = mountAt(opts.mounts, abs);
  if (mount && isPseudoFs(mount.fsType)) {
    hooks.prune('pseudo_filesystem', abs);
    return undefined;
  }
  if (opts.oneFileSystem) {
    hooks.prune('other_filesystem', abs);
    return undefined;
  }
  let identity: string | undefined;
  let fsPath: Buffer;
  let useMount: MountEntry;
  if (mount) {
    useMount = mount;
    fsPath = mount.root;
  } else if (parent.device.fsType === 'btrfs' && stDev !== parent.stDev) {
    // A btrfs subvolume that is not mounted on its own: same filesystem, own inode space.
    const rootId = btrfsRootId(abs);
    const uuid = parent.device.identity.split(':')[1];
    if (!rootId || !uuid) {
      hooks.error(
        abs,
        new Error(
          'btrfs subvolume whose id could not be read (is btrfs-progs installed?); scan it by its own mount',
        ),
      );
      return undefined;
    }
    identity = `btrfs:${uuid}:subvol:${rootId}`;
    fsPath = joinPath(parent.fsPath, abs.subarray(abs.lastIndexOf(0x2f) + 1));
    useMount = {
      mountId: -1,
      parentId: -1,
      major: 0,
      minor: 0,
      root: fsPath,
      mountPoint: abs,
      fsType: 'btrfs',
      source: '',
      superOptions: `subvolid=${rootId}`,
    };
  } else {
    hooks.error(
      abs,
      new Error('a filesystem boundary with no entry in /proc/self/mountinfo; not descended'),
    );
    return undefined;
  }
  const device = await hooks.enterMount(useMount, stDev, identity);
  if (!device) return undefined;
  if (entered.has(device.identity)) {
    hooks.prune('bind_mount', abs);
    return undefined;
  }
  entered.add(device.identity);
  return { abs, fsPath, device, stDev, ino, parentDirId: undefined };
}
