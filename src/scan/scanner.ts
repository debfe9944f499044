/**
 * `hashall scan`: walk each root, merge what it lists into the catalog, then hash the
 * candidates. The walk commits in batches, so an interrupted scan keeps what it saw; deletions
 * are applied only when a root's walk finished.
 */
import { availableParallelism } from 'node:os';
import { lstatSync, realpathSync } from 'node:fs';
import picomatch from 'picomatch';
import type { Catalog } from '../catalog/open.js';
import { scanCatalog, type ScanCatalog } from '../catalog/scan-port.js';
import { processStartTime } from '../conductor/lock.js';
import type { HashStage, JobRow } from '../catalog/hashing.js';
import type { FileMeta } from '../catalog/tree.js';
import { UserError, describeErrno, errnoCode } from '../errors.js';
import { findMount, isPseudoFs, readMountinfo, type MountEntry } from '../fs/mountinfo.js';
import { resolveIdentity } from '../fs/identity.js';
import { byteKey, joinPath, rebase, relativeTo } from '../paths.js';
import { failpoint } from '../failpoint.js';
import { LazyHashPool } from './hash-pool.js';
import { WalkHasher } from './walk-hasher.js';
import {
  BATCH_BYTES,
  BATCH_FILES,
  digestsOf,
  HashStatus,
  PREFIX_BYTES,
  type HashJob,
  type HashResultMessage,
} from './hash-job.js';
import { absolutePath, currentMounts, type MountView } from './reachability.js';
import {
  type DeviceContext,
  type DirListing,
  type PruneKind,
  type SkipKind,
  walk,
} from './walker.js';

export type HashMode = 'candidates' | 'all';

export interface ScanOptions {
  readonly roots: readonly string[];
  readonly oneFileSystem?: boolean;
  readonly exclude?: readonly string[];
  readonly hash?: HashMode;
  readonly jobs?: number;
  readonly shouldStop?: () => boolean;
  readonly onProgress?: (p: ScanProgress) => void;
  /** Errors kept in the summary; the rest are only counted. */
  readonly maxErrors?: number;
}

export interface ScanProgress {
  phase: 'walk' | 'hash';
  files: number;
  dirs: number;
  /** Files hashed while the walk went on (the hash phase counts its own). */
  walkHashed: number;
  /** Bytes read by the walk's hashing. */
  walkHashedBytes: number;
  hashedFiles: number;
  hashedBytes: number;
  /** Jobs of the hash phase so far (all stages started yet): grows when a stage starts. */
  hashTotalFiles: number;
  hashTotalBytes: number;
  /** Jobs of the hash phase finished, hashed or not (changed, unreadable): at most the total. */
  hashDoneFiles: number;
  /** The running stage of the hash phase, and whether another may follow it. */
  stage?: HashStage;
  laterStages: boolean;
  /** Bytes to read in the running stage ('full', 'all'; 0 for 'prefix'), and read so far. */
  stageBytes: number;
  stageBytesDone: number;
}

export interface ScanError {
  readonly path: Buffer;
  readonly error: string;
}

export interface ScanSummary {
  roots: { root: Buffer; scanId: number; device: string; status: string }[];
  files: number;
  dirs: number;
  new: number;
  changed: number;
  unchanged: number;
  moved: number;
  deleted: number;
  hashedFiles: number;
  hashedBytes: number;
  hashChanged: number;
  skipped: Record<SkipKind, number>;
  pruned: Record<PruneKind, number>;
  errors: ScanError[];
  errorCount: number;
  pending: number;
  interrupted: boolean;
  elapsedMs: number;
  /** Earlier scans found killed mid-way (their partial results were kept). */
  recovered: { root: Buffer; startedAt: number }[];
}

interface ResolvedRoot {
  readonly abs: Buffer;
  readonly stDev: bigint;
  readonly ino: bigint;
  readonly mount: MountEntry;
}

const COMMIT_EVERY_MS = 1000;
// Test-only: commit after every directory and every hash batch, so crash tests can land a
// SIGKILL between two commits of one scan.
const FORCE_COMMITS = process.env.HASHALL_TEST_SMALL_COMMITS === '1';
const COMMIT_EVERY_FILES = 20_000;

function resolveRoot(root: string, mounts: readonly MountEntry[]): ResolvedRoot {
  let abs: Buffer;
  try {
    abs = realpathSync(Buffer.from(root), { encoding: 'buffer' });
  } catch (err) {
    throw new UserError(`cannot scan ${root}: ${describeErrno(err)}; check the path`);
  }
  const st = lstatSync(abs, { bigint: true });
  if (!st.isDirectory()) throw new UserError(`cannot scan ${root}: not a directory`);
  const mount = findMount(mounts, abs, st.dev);
  if (!mount)
    throw new UserError(`cannot scan ${root}: no mount found for it in /proc/self/mountinfo`);
  if (isPseudoFs(mount.fsType)) {
    throw new UserError(
      `cannot scan ${root}: it is on a ${mount.fsType} kernel filesystem, which holds no files to catalogue`,
    );
  }
  return { abs, stDev: st.dev, ino: st.ino, mount };
}

function excludeMatcher(
  globs: readonly string[],
): ((rel: Buffer, name: Buffer) => boolean) | undefined {
  if (globs.length === 0) return undefined;
  const byName = globs.filter((g) => !g.includes('/'));
  const byPath = globs.filter((g) => g.includes('/')).map((g) => g.replace(/^\//, ''));
  const nameMatch = byName.length ? picomatch(byName, { dot: true }) : undefined;
  const pathMatch = byPath.length ? picomatch(byPath, { dot: true }) : undefined;
  return (rel, name) =>
    (nameMatch?.(name.toString('utf8')) ?? false) ||
    (pathMatch?.(rel.toString('utf8').replace(/^\//, '')) ?? false);
}

export function emptySummary(): ScanSummary {
  return {
    roots: [],
    files: 0,
    dirs: 0,
    new: 0,
    changed: 0,
    unchanged: 0,
    moved: 0,
    deleted: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    hashChanged: 0,
    skipped: { symlink: 0, fifo: 0, socket: 0, device: 0, other: 0 },
    pruned: { excluded: 0, other_filesystem: 0, pseudo_filesystem: 0, bind_mount: 0 },
    errors: [],
    errorCount: 0,
    pending: 0,
    interrupted: false,
    elapsedMs: 0,
    recovered: [],
  };
}

export async function runScan(catalog: Catalog, opts: ScanOptions): Promise<ScanSummary> {
  const started = Date.now();
  const db = scanCatalog(catalog);
  const shouldStop = opts.shouldStop ?? (() => false);
  const maxErrors = opts.maxErrors ?? 10_000;
  const summary = emptySummary();
  const progress: ScanProgress = {
    phase: 'walk',
    files: 0,
    dirs: 0,
    walkHashed: 0,
    walkHashedBytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    hashTotalFiles: 0,
    hashTotalBytes: 0,
    hashDoneFiles: 0,
    laterStages: false,
    stageBytes: 0,
    stageBytesDone: 0,
  };
  const report = () => opts.onProgress?.(progress);
  const addError = (path: Buffer, err: unknown) => {
    summary.errorCount++;
    if (summary.errors.length < maxErrors) summary.errors.push({ path, error: describeErrno(err) });
  };

  // Scans left 'running' by a process that is gone were killed: say so, and close them.
  // What they committed stays; they marked nothing deleted.
  for (const r of db.scans.running()) {
    if (
      r.pid !== null &&
      r.pid !== process.pid &&
      processStartTime(r.pid) === (r.pidStartTime ?? undefined)
    )
      continue;
    if (r.pid === null && Date.now() - r.startedAt < 24 * 3600 * 1000) continue;
    db.scans.markInterrupted(r.id);
    summary.recovered.push({ root: r.root, startedAt: r.startedAt });
  }
  const mounts = readMountinfo();
  // Resolve every root before touching the catalog: a typo must not half-run a scan.
  const roots = opts.roots.map((r) => resolveRoot(r, mounts));
  const isExcluded = excludeMatcher(opts.exclude ?? []);
  db.hashing.startSession();
  const pools = new LazyHashPool(opts.jobs ?? defaultHashJobs());
  try {
    const hasher = new WalkHasher(db.hashing, opts.hash === 'all', pools, {
      read: (bytes) => {
        summary.hashedBytes += bytes;
        progress.walkHashedBytes += bytes;
      },
      hashed: () => {
        summary.hashedFiles++;
        progress.walkHashed++;
      },
      changed: () => summary.hashChanged++,
      error: (path, message) => addError(path, new Error(message)),
    });
    const ctx: ScanContext = {
      db,
      opts,
      summary,
      progress,
      report,
      addError,
      shouldStop,
      pools,
      hasher,
      mounts,
      isExcluded,
    };
    for (const root of roots) {
      if (shouldStop()) break;
      await scanRoot(ctx, root);
    }
    if (summary.interrupted || shouldStop()) summary.interrupted = true;
    else summary.interrupted = await hashRemaining(ctx);
  } finally {
    await pools.close();
  }
  for (const r of summary.roots) {
    if (r.status !== 'completed') continue;
    if (summary.interrupted) r.status = 'interrupted';
    db.scans.finish(r.scanId, r.status as 'completed' | 'interrupted', { files: summary.files });
  }
  summary.pending = db.hashing.pending();
  summary.elapsedMs = Date.now() - started;
  return summary;
}

/**
 * The catalog-wide candidate stages after the walk: whatever the walk's hashing did not take.
 * Returns true when stopped by the user.
 */
async function hashRemaining(ctx: ScanContext): Promise<boolean> {
  const stages: HashStage[] = ctx.opts.hash === 'all' ? ['all'] : ['prefix', 'full'];
  ctx.progress.phase = 'hash';
  for (const [i, stage] of stages.entries()) {
    ctx.progress.laterStages = i < stages.length - 1;
    if (await hashStage(ctx, stage)) return true;
  }
  return false;
}

/** What the walk of each root shares. */
interface ScanContext {
  readonly db: ScanCatalog;
  readonly opts: ScanOptions;
  readonly summary: ScanSummary;
  readonly progress: ScanProgress;
  readonly report: () => void;
  readonly addError: (path: Buffer, err: unknown) => void;
  readonly shouldStop: () => boolean;
  readonly pools: LazyHashPool;
  readonly hasher: WalkHasher;
  readonly mounts: readonly MountEntry[];
  readonly isExcluded: ((rel: Buffer, name: Buffer) => boolean) | undefined;
}

/**
 * Walk one root and merge it into the catalog, hashing alongside; deletions are applied when
 * the walk finished.
 */
async function scanRoot(ctx: ScanContext, root: ResolvedRoot): Promise<void> {
  const { db, opts, summary, progress, report, addError, shouldStop, hasher, mounts, isExcluded } =
    ctx;
  const identity = resolveIdentity(root.mount);
  const mountSt = safeDev(root.mount.mountPoint) ?? root.stDev;
  const device = db.devices.register({
    identity: identity.identity,
    stable: identity.stable,
    fsType: identity.fsType,
    stDev: mountSt,
    mountPoint: root.mount.mountPoint,
    mountRoot: root.mount.root,
  });
  const fsPath = rebase(root.mount.root, relativeTo(root.abs, root.mount.mountPoint));
  const scanId = db.scans.start(root.abs, {
    pid: process.pid,
    startTime: processStartTime(process.pid) ?? '0',
  });
  db.scans.setRoot(scanId, device.id, fsPath);
  const tree = db.tree(scanId);
  const rootCtx: DeviceContext = {
    deviceId: device.id,
    identity: device.identity,
    fsType: device.fsType,
  };

  const writer = db.scanWriter({
    everyFiles: COMMIT_EVERY_FILES,
    everyMs: COMMIT_EVERY_MS,
    always: FORCE_COMMITS,
  });
  const begin = () => writer.begin();
  let hashWritesSinceCommit = 0;
  /** After each commit: a crash here lands between two commits of the walk's hashing. */
  const committed = () => {
    if (hashWritesSinceCommit > 0) {
      hashWritesSinceCommit = 0;
      failpoint('scan-hash-write');
    }
  };

  const onListing = (l: DirListing): number => {
    begin();
    hashWritesSinceCommit += hasher.apply();
    const deviceId = l.device.deviceId;
    const dirId = tree.ensureDir(deviceId, l.fsPath, l.parentDirId);
    const existing = tree.filesIn(dirId);
    const keys = l.files.map((f) => byteKey(f.name));
    const fresh: FileMeta[] = [];
    for (let i = 0; i < keys.length; i++) if (!existing.has(keys[i]!)) fresh.push(l.files[i]!.meta);
    if (fresh.length > 0) hasher.beginListing(deviceId, fresh);
    for (let i = 0; i < keys.length; i++) {
      const f = l.files[i]!;
      const key = keys[i]!;
      const row = existing.get(key);
      if (row) {
        summary[tree.mergeFile(f.meta, row)]++;
        existing.delete(key);
      } else {
        summary.new++;
        const file = { tree, deviceId, dirId, dirAbs: l.abs, name: f.name, meta: f.meta };
        if (!hasher.offerNew(file)) {
          hasher.inserted(tree.insertFile(deviceId, dirId, f.name, f.meta));
        }
      }
    }
    for (const k of l.kept) existing.delete(byteKey(k));
    // What is left was not listed as a regular file in a completely listed directory.
    for (const row of existing.values()) if (row.active) tree.parkGoneFile(row.id);
    const present = new Set([...l.subdirs, ...l.kept].map(byteKey));
    for (const sub of tree.subdirsOf(dirId)) {
      if (!present.has(byteKey(sub.name))) tree.parkGoneDir(sub.id);
    }
    tree.markListed(dirId);
    summary.files += l.files.length;
    summary.dirs++;
    progress.files = summary.files;
    progress.dirs = summary.dirs;
    if (writer.commitIfDue(l.files.length)) {
      committed();
      failpoint('scan-walk-commit');
      report();
    }
    return dirId;
  };

  let stopped: boolean;
  try {
    ({ stopped } = await walk(
      root.abs,
      fsPath,
      rootCtx,
      root.stDev,
      root.ino,
      {
        enterMount: (mount, stDev, knownIdentity) => {
          const id = knownIdentity
            ? { identity: knownIdentity, stable: true, fsType: mount.fsType }
            : resolveIdentity(mount);
          begin();
          const dev = db.devices.register({
            identity: id.identity,
            stable: id.stable,
            fsType: id.fsType,
            stDev,
            mountPoint: mount.mountPoint,
            mountRoot: mount.root,
          });
          return { deviceId: dev.id, identity: dev.identity, fsType: dev.fsType };
        },
        listing: onListing,
        afterListing: () => hasher.wait(),
        error: addError,
        skip: (kind) => summary.skipped[kind]++,
        prune: (kind) => summary.pruned[kind]++,
      },
      { oneFileSystem: opts.oneFileSystem ?? false, mounts, isExcluded, shouldStop },
    ));
    // Rows still being hashed are written before deletions are applied: a moved file's new
    // row must exist to take over the old row's hashes.
    await hasher.finish();
    begin();
    hashWritesSinceCommit += hasher.apply();
  } catch (err) {
    writer.abort();
    tree.discardParked();
    // A damaged catalog gets no more writes from us: only the refusal.
    const code = errnoCode(err) ?? '';
    if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB') {
      db.scans.finish(scanId, 'failed', { error: describeErrno(err) });
    }
    throw err;
  }
  let status: 'completed' | 'interrupted';
  if (stopped) {
    tree.discardParked();
    status = 'interrupted';
    summary.interrupted = true;
  } else {
    const { deleted, moved } = tree.applyDeletions();
    summary.deleted += deleted - moved;
    summary.moved += moved;
    summary.new -= moved;
    status = 'completed';
  }
  // A walked root stays 'running' until its hashing is done too: a scan killed while
  // hashing is then recognised by the next one.
  if (status === 'interrupted') db.scans.finish(scanId, status, { files: summary.files });
  writer.commit();
  committed();
  summary.roots.push({ root: root.abs, scanId, device: device.alias, status });
}

/**
 * One worker per core, at most 8. Hashing runs alongside the walk, so the workers read while
 * the main thread walks and writes the catalog: on the 2-core reference machine two workers
 * took a first scan from 6.6 s to 5.3–5.9 s and `--hash all` from 6.9 s to 5.8 s, for ~15 MiB
 * more peak RSS (DESIGN §6 T1, T3, T5). Beyond 8 was not measured; each worker costs memory.
 */
export function defaultHashJobs(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

function safeDev(path: Buffer): bigint | undefined {
  try {
    return lstatSync(path, { bigint: true }).dev;
  } catch {
    return undefined;
  }
}

// Smaller pages and result batches keep fewer job rows alive at once: peak RSS of a first scan
// of the reference tree fell from ~190 to ~145 MiB (DESIGN §6 T5) at the same speed.
const PAGE = 1024;
const WRITE_EVERY_RESULTS = 2048;
const WRITE_EVERY_MS = 500;
/** Test-only: one job per batch, each after this pause, so that a test sees the bar move. */
const TEST_HASH_DELAY_MS = Number(process.env.HASHALL_TEST_HASH_DELAY_MS ?? 0);

/** Run one hashing stage over the prepared jobs; returns true when stopped by the user. */
async function hashStage(ctx: ScanContext, stage: HashStage): Promise<boolean> {
  const { db, summary, progress, report, addError, shouldStop } = ctx;
  const total = db.hashing.prepareJobs(stage);
  if (total === 0) return false;
  const pool = await ctx.pools.get();
  const stageBytes = db.hashing.preparedJobBytes(stage);
  progress.hashTotalFiles += total;
  progress.hashTotalBytes += stageBytes;
  progress.stage = stage;
  progress.stageBytes = stageBytes;
  progress.stageBytesDone = 0;
  report();
  const mounts = readMountinfo();
  const views = new Map<number, MountView[]>();
  for (const d of db.devices.list()) views.set(d.id, currentMounts(d, mounts));
  const writer = db.hashing.writer();
  const full = stage !== 'prefix';
  const inflight = new Set<Promise<void>>();

  // Results are written in large transactions: a commit per small batch made the catalog,
  // not the disk, the bottleneck.
  type Done = { job: JobRow; prefix: Buffer; sha256: Buffer | undefined };
  let toWrite: Done[] = [];
  let failed: JobRow[] = [];
  let lastWrite = Date.now();
  const writeResults = () => {
    if (toWrite.length === 0 && failed.length === 0) return;
    const batch = toWrite;
    const notHashed = failed;
    toWrite = [];
    failed = [];
    db.withUnitOfWork(() => {
      for (const d of batch) writer.store(d.job, d.prefix, d.sha256);
      for (const j of notHashed) writer.markFailed(j.deviceId, j.inode);
    });
    failpoint('scan-hash-write');
    lastWrite = Date.now();
    report();
  };
  const accept = (sent: readonly JobRow[], r: HashResultMessage) => {
    for (let i = 0; i < sent.length; i++) {
      const job = sent[i]!;
      const bytes = r.bytesRead[i]!;
      summary.hashedBytes += bytes;
      progress.hashedBytes += bytes;
      progress.hashDoneFiles++;
      if (full) progress.stageBytesDone += bytes;
      const status = r.status[i] as HashStatus;
      if (status === HashStatus.Ok) {
        if (!job.readBefore) summary.hashedFiles++;
        progress.hashedFiles++;
        toWrite.push({ job, ...digestsOf(r, i) });
      } else if (status === HashStatus.Changed) {
        failed.push(job);
        summary.hashChanged++;
      } else {
        failed.push(job);
        addError(pathOf(job, views) ?? job.name, new Error(r.errors[i] ?? 'error'));
      }
    }
    if (toWrite.length >= WRITE_EVERY_RESULTS || Date.now() - lastWrite > WRITE_EVERY_MS)
      writeResults();
    else report(); // the display draws at most a few times a second
  };

  let stopped = false;
  let after = 0;
  let rows: JobRow[] = [];
  let batch: HashJob[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const sentJobs = batch;
    const sentRows = rows;
    batch = [];
    rows = [];
    batchBytes = 0;
    while (inflight.size >= pool.size * 2) await Promise.race(inflight);
    const p: Promise<void> = pool.run(full, sentJobs).then((r) => accept(sentRows, r));
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  while (!stopped) {
    const page = db.hashing.jobPage(after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]!.jobId;
    for (const job of page) {
      if (shouldStop()) {
        stopped = true;
        break;
      }
      const path = pathOf(job, views);
      if (!path) continue; // its filesystem is not mounted: stays pending
      rows.push(job);
      batch.push({
        path,
        inode: job.inode,
        size: job.size,
        mtimeNs: job.mtimeNs,
        ctimeNs: job.ctimeNs,
      });
      batchBytes += full ? Number(job.size) : PREFIX_BYTES;
      if (TEST_HASH_DELAY_MS > 0) await new Promise((r) => setTimeout(r, TEST_HASH_DELAY_MS));
      if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES || TEST_HASH_DELAY_MS > 0)
        await flush();
    }
    if (!stopped) await flush();
  }
  await Promise.all(inflight);
  writeResults();
  return stopped || shouldStop();
}

function pathOf(job: JobRow, views: Map<number, MountView[]>): Buffer | undefined {
  const v = views.get(job.deviceId);
  if (!v || v.length === 0) return undefined;
  return absolutePath(joinPath(job.dirPath, job.name), v);
}
