/**
 * Walk one root and merge it into the catalog, hashing alongside. The walk commits in batches
 * (units of work the catalog runs), so an interrupted scan keeps what it saw; deletions are
 * applied only when the root's walk finished.
 */
import { describeErrno, errnoCode } from '../errors.js';
import { failpoint, failpointFlag } from '../failpoint.js';
import { hostDeviceIdentity } from '../fs/identity.js';
import { rebase, relativeTo } from '../paths.js';
import type { ScanContext } from './context.js';
import { mergeListing } from './merge.js';
import { safeDev, widestMount } from '../fs/mount-views.js';
import type { ResolvedRoot } from './roots.js';
import { KnownListings, MARK_PAGE } from './known-listings.js';
import { type DeviceContext, type DirListing, type UnchangedListing, walk } from './walker.js';

const COMMIT_EVERY_MS = 1000;
// Test-only: commit after every directory and every hash batch, so crash tests can land a
// SIGKILL between two commits of one scan.
const FORCE_COMMITS = failpointFlag('scan-small-commits');
const COMMIT_EVERY_FILES = 20_000;

export async function scanRoot(ctx: ScanContext, root: ResolvedRoot): Promise<void> {
  const { catalog, opts, summary, progress, report, addError, shouldStop, hasher, mounts } = ctx;
  const host = { machineId: ctx.host.machineId, hostname: ctx.host.hostname };
  const identity = hostDeviceIdentity(root.mount, host.machineId);
  const mountSt = safeDev(root.mount.mountPoint) ?? root.stDev;
  const shown = widestMount(mounts, root.mount);
  const device = await catalog.devices.register({
    host,
    identity: identity.identity,
    stable: identity.stable,
    fsType: identity.fsType,
    stDev: mountSt,
    mountPoint: shown.mountPoint,
    mountRoot: shown.root,
  });
  const fsPath = rebase(root.mount.root, relativeTo(root.abs, root.mount.mountPoint));
  const scanId = await catalog.scans.start({ root: root.abs, owner: ctx.owner });
  await catalog.scans.setRoot({ scanId, deviceId: device.id, fsPath });
  const tree = await catalog.tree.open(scanId);
  // The stored fingerprints under the root, read once: each listing is compared in memory.
  // (Under the test-only small commits, each directory is marked and committed on its own.)
  const known = new KnownListings(tree, FORCE_COMMITS ? 1 : MARK_PAGE);
  await known.load({ deviceId: device.id, under: fsPath });
  const rootCtx: DeviceContext = {
    deviceId: device.id,
    identity: device.identity,
    fsType: device.fsType,
  };

  const writer = catalog.scanWriter({
    everyFiles: COMMIT_EVERY_FILES,
    everyMs: COMMIT_EVERY_MS,
    always: FORCE_COMMITS,
  });
  let hashWritesSinceCommit = 0;
  /** After each commit: a crash here lands between two commits of the walk's hashing. */
  const committed = () => {
    if (hashWritesSinceCommit > 0) {
      hashWritesSinceCommit = 0;
      failpoint('scan-hash-write');
    }
  };

  /** After writing: commit when the policy says so. */
  const commitIfDue = async (files: number): Promise<void> => {
    if (await writer.commitIfDue(files)) {
      committed();
      failpoint('scan-walk-commit');
      report();
    }
  };

  // A directory whose listing the catalog holds: counted, and marked listed with a page of
  // others; the catalog is written only for that page (and for the walk's hash results).
  const onUnchanged = async (l: UnchangedListing): Promise<void> => {
    summary.files += l.files;
    summary.unchanged += l.files;
    summary.dirs++;
    progress.files = summary.files;
    progress.dirs = summary.dirs;
    // An unchanged tree commits only once a page of directories: without this the display
    // would sit blank through a whole rescan of a slow (network) filesystem. It draws a few
    // times a second at most, so this costs a call per directory.
    report();
    const due = known.listed(l.dirId, l.fingerprint);
    if (!due && !hasher.hasResults()) return;
    await writer.begin();
    hashWritesSinceCommit += await hasher.apply();
    if (due) {
      await known.flush();
      // Test-only: a crash with a page marked and not yet committed.
      failpoint('scan-mark-page');
    }
    await commitIfDue(0);
  };

  // Each step is awaited before the next: a listing is merged completely before the commit
  // decision, and the walk lists the next directory only once this has resolved.
  const onListing = async (l: DirListing): Promise<number> => {
    if (l.fingerprint) {
      // Listed in full (the JS walk, or exclusions were given) but held by the catalog.
      const id = known.match(l.device.deviceId, l.fsPath, l.fingerprint);
      if (id !== undefined) {
        await onUnchanged({ ...l, dirId: id, fingerprint: l.fingerprint, files: l.files.length });
        return id;
      }
    }
    await writer.begin();
    hashWritesSinceCommit += await hasher.apply();
    const dirId = await mergeListing({ tree, hasher, summary }, l);
    summary.files += l.files.length;
    summary.dirs++;
    progress.files = summary.files;
    progress.dirs = summary.dirs;
    await commitIfDue(l.files.length);
    return dirId;
  };

  let stopped: boolean;
  try {
    ({ stopped } = await walk({
      root: { abs: root.abs, fsPath, device: rootCtx, stDev: root.stDev, ino: root.ino },
      hooks: {
        enterMount: async (mount, stDev, knownIdentity) => {
          const id = knownIdentity
            ? { identity: knownIdentity, stable: true, fsType: mount.fsType }
            : hostDeviceIdentity(mount, host.machineId);
          await writer.begin();
          const shownMount = widestMount(mounts, mount);
          const dev = await catalog.devices.register({
            host,
            identity: id.identity,
            stable: id.stable,
            fsType: id.fsType,
            stDev,
            mountPoint: shownMount.mountPoint,
            mountRoot: shownMount.root,
          });
          await known.load({ deviceId: dev.id, under: mount.root });
          return { deviceId: dev.id, identity: dev.identity, fsType: dev.fsType };
        },
        listing: onListing,
        knownListing: ({ device: d, fsPath: p, fingerprint }) =>
          known.match(d.deviceId, p, fingerprint),
        unchanged: onUnchanged,
        afterListing: () => hasher.wait(),
        error: addError,
        skip: (kind) => summary.skipped[kind]++,
        prune: (kind) => summary.pruned[kind]++,
      },
      options: {
        oneFileSystem: opts.oneFileSystem ?? false,
        mounts,
        isExcluded: ctx.isExcluded,
        ...(ctx.ownFiles ? { ownFiles: ctx.ownFiles } : {}),
        shouldStop,
      },
    }));
    if (!stopped) {
      // The catalog's end-of-walk work (a first scan's index build) runs while the workers
      // read the last batches, instead of after them with the workers idle.
      await hasher.send();
      await tree.walkDone();
      // Test-only: a crash with the walk done, its last hash results not yet written.
      failpoint('scan-walk-done');
    }
    // Rows still being hashed are written before deletions are applied: a moved file's new
    // row must exist to take over the old row's hashes. The last results may pair prefixes
    // whose full reads are queued then: again until none is left (a stop leaves them to the
    // next scan's full stage).
    do {
      await hasher.finish();
      await writer.begin();
      hashWritesSinceCommit += await hasher.apply();
    } while (!shouldStop() && hasher.hasQueued());
    await known.flush();
  } catch (err) {
    await writer.abort();
    await tree.discardParked();
    // A damaged catalog gets no more writes from us: only the refusal.
    const code = errnoCode(err) ?? '';
    if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB') {
      await catalog.scans.finish({
        scanId,
        status: 'failed',
        summary: { error: describeErrno(err) },
      });
    }
    throw err;
  }
  let status: 'completed' | 'interrupted';
  if (stopped) {
    await tree.discardParked();
    status = 'interrupted';
    summary.interrupted = true;
  } else {
    const { deleted, moved } = await tree.applyDeletions();
    summary.deleted += deleted - moved;
    summary.moved += moved;
    summary.new -= moved;
    status = 'completed';
  }
  // A walked root stays 'running' until its hashing is done too: a scan killed while
  // hashing is then recognised by the next one.
  if (status === 'interrupted')
    await catalog.scans.finish({ scanId, status, summary: { files: summary.files } });
  await writer.commit();
  committed();
  summary.roots.push({ root: root.abs, scanId, device: device.alias, status });
}
