/**
 * The directory walk. Never follows a symlink, opens no file (only lists directories and
 * lstat()s entries), and reports each directory once with its regular files and what it
 * could not look at, so that the merge knows which rows it may delete.
 */
import type { BigIntStats } from 'node:fs';
import type { EntryStat } from '../fs/dir-list.js';
import { openListingQueue } from '../fs/listing-queue.js';
import { crossMount } from './cross-mount.js';
import { hasTempPrefix } from '../fs/temp-name.js';
import { failpointDelayMs } from '../failpoint.js';
import { baseName, byteKey, joinPath, parentOf, relativeTo } from '../paths.js';
import type { FileMeta } from '../catalog/tree.js';
import { skimListing, skipKind } from './skim.js';
import type { ListedFile, PendingDir, WalkParams } from './walk-types.js';

export type {
  DeviceContext,
  DirListing,
  ListedFile,
  PendingDir,
  PruneKind,
  SkipKind,
  UnchangedListing,
  WalkHooks,
  WalkOptions,
  WalkParams,
  WalkRoot,
} from './walk-types.js';

/**
 * How long the walk runs before it lets the event loop turn. Everything that runs beside the
 * walk is answered there: signal handlers and the progress display, the hash workers' results
 * and — on PostgreSQL — each answer of the server to the statements written behind the walk
 * (write-behind.ts): the server idles until its answer is read and the next statement of the
 * step is sent. At 50 ms the first scan of the reference tree into PostgreSQL ran the walk
 * and the server mostly in turn (both running in 6–8 % of 5 ms samples, the server idle
 * 25 %); at 2 ms both run in 18 % (26 % turning at every directory), and the scan took
 * 0.35 s less (3 interleaved pairs; SQLite unchanged). A turn costs a few microseconds: at
 * most 500 a second.
 */
const YIELD_EVERY_MS = 2;

// Test-only: slow the walk down so that a test can interrupt it at a known phase, or change the
// tree under it. Each directory is then listed only when the walk comes to it (in turn), so
// that the pause holds back the listing too, not only what is done with it.
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

export async function walk({
  root,
  hooks,
  options: opts,
}: WalkParams): Promise<{ stopped: boolean }> {
  // Native (getdents64 + statx relative to the directory's fd, on the addon's threads ahead of
  // the walk) when the addon loaded, else Node's fs, one directory at a time, depth-first.
  const queue = openListingQueue<PendingDir>(TEST_DIR_DELAY_MS > 0 ? 'in-turn' : 'ahead-if-able');
  const enqueue = (d: PendingDir): void => queue.add(d, d.abs, { dev: d.stDev, ino: d.ino });
  const entered = new Set<string>([root.device.identity]);
  // The names of mount points by their directory: a directory or a file can be one.
  const mountNamesIn = new Map<string, Set<string>>();
  for (const m of opts.mounts) {
    const dirKey = byteKey(parentOf(m.mountPoint));
    const names = mountNamesIn.get(dirKey) ?? new Set<string>();
    names.add(byteKey(baseName(m.mountPoint)));
    mountNamesIn.set(dirKey, names);
  }
  enqueue({
    abs: root.abs,
    fsPath: root.fsPath,
    device: root.device,
    stDev: root.stDev,
    ino: root.ino,
    parentDirId: undefined,
  });
  let lastYield = Date.now();
  try {
    while (queue.pending > 0) {
      if (opts.shouldStop()) return { stopped: true };
      if (Date.now() - lastYield >= YIELD_EVERY_MS) {
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
        if (opts.shouldStop()) return { stopped: true };
      }
      if (TEST_DIR_DELAY_MS > 0) {
        await new Promise((r) => setTimeout(r, TEST_DIR_DELAY_MS));
        if (opts.shouldStop()) return { stopped: true };
      }
      // The lister opened the directory itself (never through a symlink) and made sure it is
      // the one the parent listed: a directory swapped for a symlink or moved mid-scan is not
      // walked. Its entries were stat()ed relative to it, so nothing below can be redirected.
      const listed = queue.next();
      if (!listed) break;
      const { item: dir, read } = listed;
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
      // Names in this directory that something is mounted on (few directories have any).
      const mountsHere = mountNamesIn.get(byteKey(dir.abs));
      // The directory the catalog's own files are in: decoded every time, they skipped.
      const own = opts.ownFiles;
      const ownHere = own !== undefined && dir.stDev === own.stDev && dir.ino === own.ino;
      // A directory the catalog holds as it is listed: counted and walked on, not decoded.
      const fp = read.fingerprint;
      const knownId =
        fp && !opts.isExcluded && !ownHere && !mountsHere && hooks.unchanged
          ? hooks.knownListing?.({ device: dir.device, fsPath: dir.fsPath, fingerprint: fp })
          : undefined;
      const skimmed =
        knownId === undefined
          ? undefined
          : skimListing({
              view: read.view,
              stDev: dir.stDev,
              isMountPoint: (name) => mountsHere?.has(byteKey(name)) === true,
            });
      if (fp && knownId !== undefined && skimmed) {
        for (const k of skimmed.skipped) hooks.skip(k);
        await hooks.unchanged!({
          device: dir.device,
          fsPath: dir.fsPath,
          dirId: knownId,
          fingerprint: fp,
          files: skimmed.files,
        });
        const pause = hooks.afterListing?.();
        if (pause) await pause;
        for (let i = skimmed.subdirs.length - 1; i >= 0; i--) {
          const { name, stat } = skimmed.subdirs[i]!;
          enqueue({
            abs: joinPath(dir.abs, name),
            fsPath: joinPath(dir.fsPath, name),
            device: dir.device,
            stDev: stat.dev,
            ino: stat.ino,
            parentDirId: knownId,
          });
        }
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
        if (ownHere && own.names.has(byteKey(name))) {
          // Not listed, so a row an older scan made of it is marked deleted at the end.
          hooks.skip('catalog');
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
          if (mountsHere?.has(byteKey(name))) {
            // A file mounted over this name (`mount --bind /x/f DIR/NAME`): what it shows is
            // another file, catalogued where it lives, and the name cannot be replaced
            // (rename over a mount point: EBUSY). Left as it is, like a directory mount point.
            hooks.prune('bind_mount', absOf());
            kept.push(name);
            continue;
          }
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
          const crossing = st.dev !== dir.stDev || mountsHere?.has(byteKey(name)) === true;
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
        // Not stored where entries were left out: the next scan must decode the directory again.
        fingerprint: kept.length === 0 && !ownHere ? read.fingerprint : undefined,
      });
      const pause = hooks.afterListing?.();
      if (pause) await pause;
      for (let i = children.length - 1; i >= 0; i--) {
        const c = children[i]!;
        if (c.device === dir.device) c.parentDirId = dirId;
        enqueue(c);
      }
    }
    return { stopped: false };
  } finally {
    queue.close();
  }
}
