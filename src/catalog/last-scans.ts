/**
 * The most recent scan of every root on every host (README "Several hosts"): `/data` on nas1
 * and `/data` on backup2 are two roots, each host's own filesystem, so the latest scan is
 * taken per root AND per host. A scan from before hosts has none: it is shown until a host
 * scans that root again.
 * The PostgreSQL side is pg/last-scans.ts.
 */
import type { DB } from './db.js';
import type { LastScan, ScanStatus } from './scans.js';

/** What both backends return per row, before the numbers are made numbers. */
export interface RawLastScan {
  readonly root: Buffer;
  readonly id: number | bigint | string;
  readonly status: ScanStatus;
  readonly started_at: number | bigint | string;
  readonly finished_at: number | bigint | string | null;
  readonly device_id: number | bigint | string | null;
  readonly machine_id: string | null;
  readonly hostname: string | null;
}

/** The SQL of both backends, `IS` spelled as each says "equal, NULL included". */
export function lastScansSql(nullSafeEq: 'IS' | 'IS NOT DISTINCT FROM'): string {
  // Ordered by root bytes, then host name (a scan from before hosts first).
  return `SELECT s.root, s.id, s.status, s.started_at, s.finished_at, s.device_id,
                 h.machine_id, h.hostname
            FROM scans s
            LEFT JOIN scan_hosts sh ON sh.scan_id = s.id
            LEFT JOIN hosts h ON h.id = sh.host_id
           WHERE s.id = (SELECT max(t.id) FROM scans t
                           LEFT JOIN scan_hosts th ON th.scan_id = t.id
                          WHERE t.root = s.root AND th.host_id ${nullSafeEq} sh.host_id)
             -- A root scanned before hosts and again since: its hosts' scans say it.
             AND NOT (sh.host_id IS NULL AND EXISTS (
                   SELECT 1 FROM scans u JOIN scan_hosts uh ON uh.scan_id = u.id
                    WHERE u.root = s.root AND u.id > s.id))
           ORDER BY s.root, h.hostname NULLS FIRST, s.id`;
}

const num = (v: number | bigint | string): number => Number(v);

export function toLastScan(r: RawLastScan): LastScan {
  return {
    root: r.root,
    scanId: num(r.id),
    status: r.status,
    startedAt: num(r.started_at),
    finishedAt: r.finished_at === null ? null : num(r.finished_at),
    deviceId: r.device_id === null ? null : num(r.device_id),
    host:
      r.machine_id === null || r.hostname === null
        ? null
        : { machineId: r.machine_id, hostname: r.hostname },
  };
}

export function lastScansPerRootAndHost(db: DB): LastScan[] {
  return (db.prepare(lastScansSql('IS')).all() as RawLastScan[]).map(toLastScan);
}
