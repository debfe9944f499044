/**
 * The hash stages after the walk, catalog-wide: whatever the walk's hashing did not take.
 * Jobs are paged from the catalog, sent to the workers in batches, and their results written
 * back in large units of work.
 */
import type { HashResults, HashStage, JobRow } from '../catalog/scan-port.js';
import { failpoint, failpointDelayMs } from '../failpoint.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { joinPath } from '../paths.js';
import type { ScanContext } from './context.js';
import {
  BATCH_BYTES,
  BATCH_FILES,
  digestsOf,
  HashStatus,
  PREFIX_BYTES,
  type HashJob,
  type HashResultMessage,
} from './hash-job.js';
import { absolutePath, type MountView } from '../fs/reachability.js';
import { hostMountViews } from '../fs/host-reach.js';
import { Serial } from './serial.js';

/**
 * The catalog-wide candidate stages after the walk: whatever the walk's hashing did not take.
 * Returns true when stopped by the user.
 */
export async function hashRemaining(ctx: ScanContext): Promise<boolean> {
  const stages: HashStage[] = ctx.opts.hash === 'all' ? ['all'] : ['prefix', 'full'];
  ctx.progress.phase = 'hash';
  for (const [i, stage] of stages.entries()) {
    ctx.progress.laterStages = i < stages.length - 1;
    if (await hashStage(ctx, stage)) return true;
  }
  return false;
}

// Smaller pages and result batches keep fewer job rows alive at once: peak RSS of a first scan
// of the reference tree fell from ~190 to ~145 MiB (DESIGN §6 T5) at the same speed.
const PAGE = 1024;
const WRITE_EVERY_RESULTS = 2048;
const WRITE_EVERY_MS = 500;
/** Test-only: one job per batch, each after this pause, so that a test sees the bar move. */
const TEST_HASH_DELAY_MS = failpointDelayMs('scan-hash-job');

/** Run one hashing stage over the prepared jobs; returns true when stopped by the user. */
async function hashStage(ctx: ScanContext, stage: HashStage): Promise<boolean> {
  const { catalog, summary, progress, report, addError, shouldStop } = ctx;
  const { jobs: total, bytes: stageBytes } = await catalog.hashing.prepareJobs(stage);
  if (total === 0) return false;
  const pool = await ctx.pools.get();
  progress.hashTotalFiles += total;
  progress.hashTotalBytes += stageBytes;
  progress.stage = stage;
  progress.stageBytes = stageBytes;
  progress.stageBytesDone = 0;
  report();
  const mounts = readMountinfo();
  const views = new Map<number, MountView[]>();
  for (const d of await catalog.devices.list())
    views.set(d.id, hostMountViews(d, mounts, ctx.host.machineId));
  // The loop's page reads and the result writes, which the workers' answers set off, reach
  // the catalog one at a time, in the order they were asked for.
  const serial = new Serial();
  const full = stage !== 'prefix';
  const inflight = new Set<Promise<void>>();

  // Results are written in large transactions: a commit per small batch made the catalog,
  // not the disk, the bottleneck.
  let toWrite: HashResults['stored'][number][] = [];
  let failed: JobRow[] = [];
  let lastWrite = Date.now();
  /** Write what has come back, as one unit of work; resolves once it is committed. */
  const writeResults = (): Promise<void> => {
    if (toWrite.length === 0 && failed.length === 0) return Promise.resolve();
    const stored = toWrite;
    const notHashed = failed;
    toWrite = [];
    failed = [];
    lastWrite = Date.now();
    return serial.run(async () => {
      await catalog.unitOfWork(() =>
        catalog.hashing.writeResults({ stored, read: [], failed: notHashed }),
      );
      failpoint('scan-hash-write');
      lastWrite = Date.now();
      report();
    });
  };
  /** Count a batch's results; resolves once they are written, when a write is due. */
  const accept = (sent: readonly JobRow[], r: HashResultMessage): Promise<void> => {
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
        toWrite.push({ target: job, ...digestsOf(r, i) });
      } else if (status === HashStatus.Changed) {
        failed.push(job);
        summary.hashChanged++;
      } else {
        failed.push(job);
        addError(pathOf(job, views) ?? job.name, new Error(r.errors[i] ?? 'error'));
      }
    }
    if (toWrite.length >= WRITE_EVERY_RESULTS || Date.now() - lastWrite > WRITE_EVERY_MS)
      return writeResults();
    report(); // the display draws at most a few times a second
    return Promise.resolve();
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
    const p: Promise<void> = pool.run(stage, sentJobs).then((r) => accept(sentRows, r));
    inflight.add(p);
    // A failure reaches the loop through the race or the final wait on `inflight`.
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
  };
  while (!stopped) {
    const afterJobId = after;
    const page = await serial.run(() => catalog.hashing.jobPage({ afterJobId, limit: PAGE }));
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
  await writeResults();
  return stopped || shouldStop();
}

function pathOf(job: JobRow, views: Map<number, MountView[]>): Buffer | undefined {
  const v = views.get(job.deviceId);
  if (!v || v.length === 0) return undefined;
  return absolutePath(joinPath(job.dirPath, job.name), v);
}
