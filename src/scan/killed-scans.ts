/**
 * Scans left 'running' by a process that is gone were killed: say so, and close them. What
 * they committed stays; they marked nothing deleted.
 */
import type { ScanRecords } from '../catalog/scan-port.js';
import type { ScanSummary } from './summary.js';

/** A scan without an owner recorded is presumed alive for this long. */
const UNOWNED_GRACE_MS = 24 * 3600 * 1000;

/**
 * Close the scans whose process is gone, recording each in summary.recovered.
 * `startTimeOf` gives a live process's start time (undefined when it is gone): a pid reused
 * by another process has another start time.
 */
export async function closeKilledScans(
  scans: ScanRecords,
  startTimeOf: (pid: number) => string | undefined,
  summary: ScanSummary,
  /** This host's machine id: another host's scan is that host's to judge (a shared catalog). */
  machineId?: string,
): Promise<void> {
  for (const r of await scans.running()) {
    if (machineId !== undefined && r.machineId !== null && r.machineId !== machineId) continue;
    if (
      r.pid !== null &&
      r.pid !== process.pid &&
      startTimeOf(r.pid) === (r.pidStartTime ?? undefined)
    )
      continue;
    if (r.pid === null && Date.now() - r.startedAt < UNOWNED_GRACE_MS) continue;
    await scans.markInterrupted(r.id);
    summary.recovered.push({ root: r.root, startedAt: r.startedAt });
  }
}
