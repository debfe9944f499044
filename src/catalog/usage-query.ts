/**
 * The per-device usage count (usage-totals.ts), on its own: the fold's worker
 * (usage-worker.ts) runs it too and loads nothing else of the catalog. Also the device-id list
 * both folds put in their SQL (group-totals.ts).
 */

/** Usage per device over `where` (rows of files), as usage_totals stores it. */
export const USAGE_OF = (where: string): string =>
  `SELECT device_id, sum(paths) AS files, count(*) AS inodes, sum(size) AS bytes,
          sum(blocks) * 512 AS allocated
     FROM (SELECT device_id, inode, count(*) AS paths, max(size) AS size, max(blocks) AS blocks
             FROM files WHERE status = 'active' ${where} GROUP BY device_id, inode)
    GROUP BY device_id`;

/** Device ids (integers read from the catalog) as an SQL list. */
export const deviceList = (ids: readonly number[]): string =>
  `(${ids.map((d) => Number(d)).join(', ')})`;

/** One row of USAGE_OF, as usage_totals stores it. */
export interface UsageRow {
  readonly device_id: number;
  readonly files: number;
  readonly inodes: number;
  readonly bytes: number;
  readonly allocated: number;
}

/** What the fold's worker is asked (workerData). */
export interface UsageAsk {
  /** The catalog's file, which the parent has open. */
  readonly path: string;
  readonly devices: readonly number[];
  /**
   * The scan the parent has just finished, and its finished_at: what the worker's snapshot
   * must show, or it is not the catalog (or not the moment) the parent folds.
   */
  readonly scanId: number;
  readonly finishedAt: number;
}

/** What the worker answers (its only message). */
export type UsageAnswer =
  | { readonly kind: 'rows'; readonly rows: readonly UsageRow[] }
  | { readonly kind: 'refused'; readonly why: string };
