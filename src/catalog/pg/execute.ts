/**
 * The execute concern of the catalog port (../execute-port.ts) on PostgreSQL, over one
 * `pg.Client`: the executor lock per device (executor-lock.ts), the journal (journal.ts), the
 * execution's plan and pages (execution.ts) and the rows after replacements (replacement.ts).
 * Self-contained: compose it with the other concerns on the same connection.
 */
import type pg from 'pg';
import type { ExecuteCatalog } from '../execute-port.js';
import { pgExecutionOps, pgReplacementOps } from './execution.js';
import { pgExecutorLock, type PgLockOptions } from './executor-lock.js';
import { pgJournalOps } from './journal.js';

export function pgExecuteOps(client: pg.Client, opts: PgLockOptions = {}): ExecuteCatalog {
  const lock = pgExecutorLock(client, opts);
  return {
    executorLock: lock.ops,
    journal: pgJournalOps(client, lock.held),
    execution: pgExecutionOps(client),
    replacement: pgReplacementOps(client),
  };
}
