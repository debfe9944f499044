/**
 * Transactions on a PostgreSQL catalog connection: the port's `unitOfWork` (BEGIN/COMMIT,
 * ROLLBACK when its function rejects, joining a transaction already open) and the walk's
 * batching writer (its policy is ../unit-of-work.ts's `BatchingWriter`). Both ask the connection itself whether a
 * transaction is open (the server's ReadyForQuery status), as SQLite's do with
 * `db.inTransaction`: a unit of work started while the writer's transaction is open joins it.
 */
import type pg from 'pg';
import { BatchingWriter, type CommitPolicy, type ScanWriter } from '../unit-of-work.js';
import {
  connectionOf,
  discardWrites,
  queueStep,
  syncWrites,
  writesCommitted,
} from './write-behind.js';

/**
 * Connections whose BEGIN was sent (or queued) but may not be answered yet, with how many: the
 * server's status changes only when it answers, and a unit of work started meanwhile must
 * join, not BEGIN again.
 */
const beginning = new WeakMap<pg.Client, number>();

function markBeginning(client: pg.Client, by: 1 | -1): void {
  const key = connectionOf(client);
  const n = (beginning.get(key) ?? 0) + by;
  if (n > 0) beginning.set(key, n);
  else beginning.delete(key);
}

/** Whether the connection is inside a transaction ('T'), a failed one ('E'), or opening one. */
export function pgInTransaction(client: pg.Client): boolean {
  return beginning.has(connectionOf(client)) || client.getTransactionStatus() !== 'I';
}

async function begin(client: pg.Client): Promise<void> {
  markBeginning(client, 1);
  try {
    await client.query('BEGIN');
  } finally {
    markBeginning(client, -1);
  }
}

/**
 * COMMIT, refusing a failed transaction: PostgreSQL answers COMMIT of one by rolling it back
 * and saying so (command tag ROLLBACK) without an error, which would lose the work silently.
 * The tag is the only reliable sign: the connection's status may not have caught up yet when
 * a failed statement's promise settles.
 */
async function commit(client: pg.Client): Promise<void> {
  // What the scan wrote behind its walk belongs to this transaction (write-behind.ts).
  await syncWrites(client);
  refuseRolledBack(await client.query('COMMIT'));
  writesCommitted(client);
}

function refuseRolledBack(r: pg.QueryResult): void {
  if (r.command === 'ROLLBACK') {
    throw new Error('a statement of this transaction failed; it was rolled back');
  }
}

/**
 * COMMIT and BEGIN queued behind what the walk wrote (write-behind.ts), so that the walk goes
 * on while the server catches up: waiting for it at each commit left the server idle while
 * the walk prepared the next batch. The connection counts as inside a transaction throughout
 * (a unit of work started meanwhile joins the next one). A failure ends the queue: the next
 * statement that waits for it throws, and the scan rolls back what follows the last commit.
 */
function commitBehind(client: pg.Client): void {
  markBeginning(client, 1);
  queueStep(
    client,
    async (raw) => {
      refuseRolledBack(await raw.query('COMMIT'));
      await raw.query('BEGIN');
    },
    () => markBeginning(client, -1),
  );
  writesCommitted(client);
}

/** Roll back if the server still has a transaction open (a failed COMMIT has ended it). */
async function rollbackIfOpen(client: pg.Client): Promise<void> {
  // No queued write may run after the ROLLBACK, outside any transaction.
  await discardWrites(client);
  if (pgInTransaction(client)) await client.query('ROLLBACK');
}

/** fn as one transaction; joins one already open on the connection. */
export async function pgUnitOfWork<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  if (pgInTransaction(client)) return fn();
  await begin(client);
  try {
    const result = await fn();
    await commit(client);
    return result;
  } catch (err) {
    await rollbackIfOpen(client);
    throw err;
  }
}

/** The walk's batching writer on a PostgreSQL connection (policy in ../unit-of-work.ts). */
export function pgScanWriter(client: pg.Client, policy: CommitPolicy): ScanWriter {
  return new BatchingWriter(
    {
      begin: () => begin(client),
      commit: () => commit(client),
      rollbackIfOpen: () => rollbackIfOpen(client),
      commitBehind: () => commitBehind(client),
    },
    policy,
  );
}
