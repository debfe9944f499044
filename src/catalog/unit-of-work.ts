/**
 * The scan's long-running unit of work: one write transaction that batches many listings and
 * commits when enough work or time has gone by, so that an interrupted scan keeps what it saw.
 * Callers ask for it through the port (`scanWriter(policy)`) and never issue BEGIN or COMMIT;
 * a short unit of work (a page of hash results) is the port's `unitOfWork(fn)` (sqlite.ts).
 */
import type { DB } from './open.js';

/** When a ScanWriter's open transaction is due to commit. */
export interface CommitPolicy {
  /** Commit once this many files were merged since the last commit… */
  readonly everyFiles: number;
  /** …or once this long has passed since it… */
  readonly everyMs: number;
  /** …or after every piece of work (test-only: lands a crash between two commits). */
  readonly always: boolean;
}

/** The port's view of the batching writer: every step a promise, as every port operation. */
export interface ScanWriter {
  /** Make sure a write transaction is open (a no-op when one is). */
  begin(): Promise<void>;
  /** Count merged files; commit when the policy says so. Resolves true when it committed. */
  commitIfDue(files: number): Promise<boolean>;
  /** Commit what is open (if anything) and restart the policy's clock. */
  commit(): Promise<void>;
  /** Roll back what is open, if the database still has it open. */
  abort(): Promise<void>;
}

export class SqliteScanWriter implements ScanWriter {
  private open = false;
  private lastCommit = Date.now();
  private filesSinceCommit = 0;

  constructor(
    private readonly db: DB,
    private readonly policy: CommitPolicy,
  ) {}

  async begin(): Promise<void> {
    if (this.open) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.open = true;
  }

  async commitIfDue(files: number): Promise<boolean> {
    this.filesSinceCommit += files;
    const due =
      this.policy.always ||
      this.filesSinceCommit >= this.policy.everyFiles ||
      Date.now() - this.lastCommit > this.policy.everyMs;
    if (due) this.commitNow();
    return due;
  }

  async commit(): Promise<void> {
    this.commitNow();
  }

  async abort(): Promise<void> {
    const wasOpen = this.open;
    this.open = false;
    // A COMMIT that failed (SQLITE_FULL) may have rolled back already: ROLLBACK would then
    // throw 'no transaction is active' and hide the real error.
    if (wasOpen && this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  private commitNow(): void {
    if (this.open) {
      // Still open when COMMIT throws: abort() then rolls back if SQLite kept it open.
      this.db.exec('COMMIT');
      this.open = false;
    }
    this.lastCommit = Date.now();
    this.filesSinceCommit = 0;
  }
}
