/**
 * Transactions as the catalog's business: a caller asks for a unit of work and says when it
 * may end, and never issues BEGIN or COMMIT itself. Two shapes cover the scan:
 * - `withUnitOfWork(db, fn)`: one write transaction around fn (a page of hash results);
 * - `ScanWriter`: a long-running writer that batches many listings into one transaction and
 *   commits when enough work or time has gone by, so that an interrupted scan keeps what it saw.
 */
import type { DB } from './open.js';

/** Run fn in one write transaction (taken at once: no lock upgrade half-way). */
export function withUnitOfWork<T>(db: DB, fn: () => T): T {
  return db.transaction(fn).immediate();
}

/** When a ScanWriter's open transaction is due to commit. */
export interface CommitPolicy {
  /** Commit once this many files were merged since the last commit… */
  readonly everyFiles: number;
  /** …or once this long has passed since it… */
  readonly everyMs: number;
  /** …or after every piece of work (test-only: lands a crash between two commits). */
  readonly always: boolean;
}

export class ScanWriter {
  private open = false;
  private lastCommit = Date.now();
  private filesSinceCommit = 0;

  constructor(
    private readonly db: DB,
    private readonly policy: CommitPolicy,
  ) {}

  /** Make sure a write transaction is open (a no-op when one is). */
  begin(): void {
    if (this.open) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.open = true;
  }

  /** Count merged files; commit when the policy says so. Returns true when it committed. */
  commitIfDue(files: number): boolean {
    this.filesSinceCommit += files;
    const due =
      this.policy.always ||
      this.filesSinceCommit >= this.policy.everyFiles ||
      Date.now() - this.lastCommit > this.policy.everyMs;
    if (due) this.commit();
    return due;
  }

  /** Commit what is open (if anything) and restart the policy's clock. */
  commit(): void {
    if (this.open) {
      // Still open when COMMIT throws: abort() then rolls back if SQLite kept it open.
      this.db.exec('COMMIT');
      this.open = false;
    }
    this.lastCommit = Date.now();
    this.filesSinceCommit = 0;
  }

  /** Roll back what is open, if the database still has it open. */
  abort(): void {
    const wasOpen = this.open;
    this.open = false;
    // A COMMIT that failed (SQLITE_FULL) may have rolled back already: ROLLBACK would then
    // throw 'no transaction is active' and hide the real error.
    if (wasOpen && this.db.inTransaction) this.db.exec('ROLLBACK');
  }
}
