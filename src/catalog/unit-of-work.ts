/**
 * The scan's long-running unit of work: one write transaction that batches many listings and
 * commits when enough work or time has gone by, so that an interrupted scan keeps what it saw.
 * Callers ask for it through the port (`scanWriter(policy)`) and never issue BEGIN or COMMIT;
 * a short unit of work (a page of hash results) is the port's `unitOfWork(fn)` (sqlite.ts).
 */
import type { DB } from './db.js';

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
  /**
   * Count merged files; commit when the policy says so. Resolves true when it committed, or
   * on PostgreSQL queued the commit behind the rows it writes behind the walk (pg/tx.ts):
   * done by the time any later statement answers, and always before `commit()` resolves.
   */
  commitIfDue(files: number): Promise<boolean>;
  /** Commit what is open (if anything) and restart the policy's clock. */
  commit(): Promise<void>;
  /** Roll back what is open, if the database still has it open. */
  abort(): Promise<void>;
}

/** The three transaction steps a backend gives a batching writer. */
export interface TransactionSteps {
  begin(): Promise<void>;
  /** Rejects when the transaction could not be committed (it may still be open then). */
  commit(): Promise<void>;
  /** Roll back what the database still has open (a failed COMMIT may have ended it). */
  rollbackIfOpen(): Promise<void>;
  /**
   * Commit and open the next transaction without waiting for either (a backend that queues
   * its writes: pg/tx.ts). A failure surfaces at the next statement that waits.
   */
  commitBehind?(): void;
}

/**
 * The batching writer of either backend: the commit policy here, the transaction steps from
 * the backend (SQLite below, PostgreSQL in pg/tx.ts).
 */
export class BatchingWriter implements ScanWriter {
  private open = false;
  private lastCommit = Date.now();
  private filesSinceCommit = 0;

  constructor(
    private readonly tx: TransactionSteps,
    private readonly policy: CommitPolicy,
  ) {}

  async begin(): Promise<void> {
    if (this.open) return;
    await this.tx.begin();
    this.open = true;
  }

  async commitIfDue(files: number): Promise<boolean> {
    this.filesSinceCommit += files;
    const due =
      this.policy.always ||
      this.filesSinceCommit >= this.policy.everyFiles ||
      Date.now() - this.lastCommit > this.policy.everyMs;
    if (!due) return due;
    // Behind the walk where the backend can, except when every piece of work commits (a test
    // that crashes between two commits needs the first one done).
    if (this.tx.commitBehind && this.open && !this.policy.always) {
      this.tx.commitBehind();
      this.restartClock();
    } else await this.commitNow();
    return due;
  }

  async commit(): Promise<void> {
    await this.commitNow();
  }

  async abort(): Promise<void> {
    const wasOpen = this.open;
    this.open = false;
    if (wasOpen) await this.tx.rollbackIfOpen();
  }

  private async commitNow(): Promise<void> {
    if (this.open) {
      // A COMMIT that fails leaves `open` set: abort() then rolls back if the database kept it.
      await this.tx.commit();
      this.open = false;
    }
    this.restartClock();
  }

  private restartClock(): void {
    this.lastCommit = Date.now();
    this.filesSinceCommit = 0;
  }
}

/** SQLite's steps: BEGIN IMMEDIATE takes the write lock at once (no upgrade half-way). */
export function sqliteScanWriter(db: DB, policy: CommitPolicy): ScanWriter {
  return new BatchingWriter(
    {
      begin: async () => {
        db.exec('BEGIN IMMEDIATE');
      },
      commit: async () => {
        db.exec('COMMIT');
      },
      // A COMMIT that failed (SQLITE_FULL) may have rolled back already: ROLLBACK would then
      // throw 'no transaction is active' and hide the real error.
      rollbackIfOpen: async () => {
        if (db.inTransaction) db.exec('ROLLBACK');
      },
    },
    policy,
  );
}
