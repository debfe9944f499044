/**
 * Which rows a hashing stage reads (./hashing.ts), and the planning trap of the full stage's.
 *
 * The full stage reads a prefix-hashed row without a full hash when another inode has its size
 * and prefix. The planner estimates how many rows are prefix-only from two columns it takes as
 * independent (sha256 null: the rows never hashed, ~7% on the reference tree; prefix_hash not
 * null: ~93%), about 4,000 where an unchanged rescan has a dozen, and so matches them against
 * every active row with a hash join: 50–110 ms of each count and each job list, every rescan
 * and every analyze (`pending`). A dozen rows are better probed one at a time through
 * files_active_size (under a millisecond), which is what the probe form forces (OFFSET 0 keeps
 * the subquery a per-row subplan); thousands (a first scan's full stage) are not: 41,000 rows
 * took 1.8 s that way against 0.1 s joined. So the prefix-only rows are counted first, up to
 * FEW + 1 (an index-only scan of files_prefix_only), and the form chosen by the count.
 */
import type pg from 'pg';
import { SUFFIXES_AGREE } from '../hashing.js';

/** Up to this many prefix-only rows, each is probed by itself. */
export const FEW_PREFIX_ONLY = 256;

/** A row `f` whose size some other inode has (the prefix stage). */
export const SIZE_COLLISION = `EXISTS (SELECT 1 FROM files g WHERE g.status = 'active' AND g.size = f.size
                                 AND (g.device_id != f.device_id OR g.inode != f.inode))`;

/** How the full stage's collision is planned (see the header). */
export type PrefixCollisionForm = 'probe' | 'join';

/** A row `f` whose size, prefix and suffix some other inode has (the full stage). */
export function prefixCollision(form: PrefixCollisionForm): string {
  return `EXISTS (SELECT 1 FROM files g WHERE g.status = 'active' AND g.size = f.size
                    AND g.prefix_hash = f.prefix_hash AND ${SUFFIXES_AGREE}
                    AND (g.device_id != f.device_id OR g.inode != f.inode)
                  ${form === 'probe' ? 'OFFSET 0' : ''})`;
}

/** The form for the catalog as it is: 'probe' while few rows are prefix-only. */
export async function prefixCollisionForm(client: pg.Client): Promise<PrefixCollisionForm> {
  const r = await client.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM (
       SELECT 1 FROM files
        WHERE status = 'active' AND size > 0 AND sha256 IS NULL AND prefix_hash IS NOT NULL
        LIMIT ${FEW_PREFIX_ONLY + 1}) c`,
  );
  return Number(r.rows[0]!.n) <= FEW_PREFIX_ONLY ? 'probe' : 'join';
}

/**
 * Whether any active row `f` passes a stage's filter. An unchanged rescan has no job in either
 * stage, and the job list's statement would still cost it 60–130 ms: it joins the grouped jobs
 * back to `files` for their names, planned (from estimates of thousands of jobs) as a hash of
 * every file row, built before the empty side is read. Asked first, that is 0.1–20 ms; a stage
 * with jobs pays one round trip more (it stops at the first row found). Asked in size order, not
 * as an EXISTS: planned for a first row, EXISTS read the table from its start (a sequential
 * scan of every file row, 40 ms, since the estimate promised an early hit), where the order
 * makes the stage's partial index (files_unhashed, files_prefix_only, both by size) the way in.
 */
export async function anyCandidate(client: pg.Client, filter: string): Promise<boolean> {
  const r = await client.query(
    `SELECT 1 FROM files f WHERE f.status = 'active' AND ${filter} ORDER BY f.size LIMIT 1`,
  );
  return r.rows.length > 0;
}
