/**
 * Directory listing fingerprints (bench/NOTES.md): the walk digests what a rescan
 * compares in a directory's listing (src/fs/dir-list.ts), and a directory whose stored digest is
 * the listed one needs none of its file rows read: the listing is the one the rows were last
 * merged from, so every listed file is unchanged, none is new and none has gone.
 *
 * A stored fingerprint must never describe rows that differ from its listing:
 * - It is written only when the scan that merged the listing finishes (with its parked
 *   deletions, tree.ts); until then the directory holds the marker X'' (no fingerprint), so a
 *   scan killed after writing some of the directory's rows leaves nothing to match.
 * - It is written only over that marker, and only for a directory this scan listed last: a
 *   trigger (migration 12) forgets it when anything else writes what a rescan compares in one
 *   of the directory's file rows (execute, undo, a concurrent scan).
 * - It is only trusted on an active directory (a deleted one that comes back revives its rows).
 */
import type { Statement } from 'better-sqlite3';
import type { DB } from './db.js';

/** The marker of a directory merged by a scan that has not finished. */
const MERGING = Buffer.alloc(0);

export class ListingFingerprints {
  private readonly skip: Statement;
  private readonly mark: Statement;
  private readonly pend: Statement;

  constructor(
    private readonly db: DB,
    private readonly scanId: number,
  ) {
    db.exec(`
      CREATE TEMP TABLE IF NOT EXISTS pending_fps (dir_id INTEGER PRIMARY KEY, fp BLOB NOT NULL);
      DELETE FROM temp.pending_fps;
    `);
    // One statement for an unchanged directory: found by its fingerprint, marked listed.
    this.skip = db
      .prepare(
        `UPDATE dirs SET last_listed_scan = ?
          WHERE device_id = ? AND path = ? AND status = 'active' AND listing_fp = ?
          RETURNING id`,
      )
      .pluck(true);
    this.mark = db.prepare(`UPDATE dirs SET listing_fp = ? WHERE id = ?`);
    this.pend = db.prepare('INSERT OR REPLACE INTO temp.pending_fps (dir_id, fp) VALUES (?, ?)');
  }

  /**
   * The row id of the active directory at `path` whose stored fingerprint is `fp`, marked
   * listed by this scan; undefined when there is none (its rows must be merged).
   */
  unchanged(deviceId: number, path: Buffer, fp: Buffer): number | undefined {
    const id = this.skip.get(this.scanId, deviceId, path, fp) as number | undefined;
    return id;
  }

  /**
   * After a directory's rows were merged (updated, parked): forget its stored fingerprint and
   * keep the listing's (if any) for when the scan finishes. The marker is set after the merge's
   * own writes, so that a write by anything else from now on (which the trigger sees) clears it.
   * The scan's own later writes to the directory's rows are inserts and hashes, which leave it.
   */
  merged(dirId: number, fp: Buffer | undefined): void {
    this.mark.run(MERGING, dirId);
    if (fp) this.pend.run(dirId, fp);
  }

  /**
   * A finished scan, before it applies its deletions (which the trigger sees too): keep only
   * the fingerprints of directories that still hold the marker and that no later scan listed.
   */
  settle(): void {
    this.db
      .prepare(
        `DELETE FROM temp.pending_fps
          WHERE dir_id NOT IN (SELECT id FROM dirs
                                WHERE id IN (SELECT dir_id FROM temp.pending_fps)
                                  AND listing_fp = ? AND last_listed_scan = ?)`,
      )
      .run(MERGING, this.scanId);
  }

  /**
   * Then, after the deletions, in the same unit of work: store the settled fingerprints of the
   * directories that are still active.
   */
  apply(): void {
    this.db
      .prepare(
        `UPDATE dirs SET listing_fp = (SELECT fp FROM temp.pending_fps p WHERE p.dir_id = dirs.id)
          WHERE id IN (SELECT dir_id FROM temp.pending_fps) AND status = 'active'`,
      )
      .run();
    this.discard();
  }

  /** An interrupted or failed scan: the marked directories keep their marker (no fingerprint). */
  discard(): void {
    this.db.exec('DELETE FROM temp.pending_fps');
  }
}
