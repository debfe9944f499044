/**
 * The hash stages after the walk, catalog-wide: whatever the walk's hashing did not take.
 * Jobs are paged from the catalog, sent to the workers in batches, and their results written
 * back in large units of work.
 */
import type { HashStage, JobRow } from '../catalog/hashing.js';
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
import { absolutePath, currentMounts, type MountView } from '../fs/reachability.js';

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
  const total = catalog.hashing.prepareJobs(stage);
  if (total === 0) return false;
  const pool = await ctx.pools.get();
  const stageBytes = catalog.hashing.preparedJobBytes(stage);
  progress.hashTotalFiles += total;
  progress.hashTotalBytes += stageBytes;
  progress.stage = stage;
  progress.stageBytes = stageBytes;
  progress.stageBytesDone = 0;
  report();
  const mounts = readMountinfo();
  const views = new Map<number, MountView[]>();
  for (const d of catalog.devices.list()) views.set(d.id, currentMounts(d, mounts));
  const writer = catalog.hashing.writer();
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
    catalog.withUnitOfWork(() => {
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
    const p: Promise<void> = pool.run(stage, sentJobs).then((r) => accept(sentRows, r));
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  while (!stopped) {
    const page = catalog.hashing.jobPage(after, PAGE);
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
