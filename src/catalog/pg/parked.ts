/**
 * The end of a scan's deletion pass on PostgreSQL (./tree.ts applyDeletions), when nothing is
 * parked: no file row left unlisted, no directory gone (an unchanged rescan). The pass's
 * statements for vanished directories, moves and deletions would then change nothing, but the
 * planner has no statistics for the session tables they read, plans them for thousands of
 * parked rows, and the moves statement reads every file row for it (10–40 ms on the reference
 * tree). One EXISTS over the two session tables tells; the fingerprints kept for the listed
 * directories are written either way.
 */
import type pg from 'pg';

/** Whether any file or directory was parked by this scan's merges. */
export async function anythingParked(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_temp.gone_files)
         OR EXISTS (SELECT 1 FROM pg_temp.gone_dirs) AS any`,
  );
  return r.rows[0]!.any;
}

/** The listing fingerprints kept for the directories merged and listed by this scan. */
export async function applyPendingFingerprints(client: pg.Client): Promise<void> {
  await client.query(
    `UPDATE dirs d SET listing_fp = p.fp FROM pg_temp.pending_fps p
      WHERE d.id = p.dir_id AND d.status = 'active'`,
  );
}
