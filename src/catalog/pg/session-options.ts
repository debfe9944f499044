/**
 * Settings every catalog connection starts with.
 *
 * `jit = off`: PostgreSQL compiles a statement whose estimated cost passes jit_above_cost
 * (100,000 by default), and hashall's statements are the kind that estimate badly: they join
 * session temporary tables the planner has no statistics for (it assumes thousands of rows
 * where a rescan has none) and partial indexes over correlated columns. On the reference tree
 * an unchanged rescan's deletion pass (empty temporary tables, 1 ms of work) was estimated at
 * 924,000 and spent 232 ms compiling; a rescan's server time varied from 0.42 s to 0.99 s with
 * it, and stayed at 0.42–0.56 s without. The statements that do run long (grouping every row)
 * are sorts and aggregates over index scans, which compiling hardly speeds up (the full
 * regrouping of the reference tree: 69–76 ms with, 58–63 ms without); migration 6
 * (./schema.ts) turned it off for the update trigger for the same reason.
 *
 * A SET rather than the startup packet's `options` (no round trip of its own there): poolers
 * such as PgBouncer refuse unknown startup parameters. A user who sets jit in PGOPTIONS keeps
 * their choice.
 */
import type pg from 'pg';
import { errnoCode } from '../../errors.js';

export const SESSION_SETUP = 'SET jit = off';

/** Whether the session setup applies (not when PGOPTIONS chooses jit itself). */
export function wantsSessionSetup(env: NodeJS.ProcessEnv = process.env): boolean {
  return !/\bjit\b/.test(env.PGOPTIONS ?? '');
}

/** Apply the session settings to a fresh connection. */
export async function setUpSession(client: pg.Client): Promise<void> {
  if (!wantsSessionSetup()) return;
  try {
    await client.query(SESSION_SETUP);
  } catch (err) {
    // A server before PostgreSQL 11 has no JIT, nor the setting: nothing to turn off.
    if (errnoCode(err) !== '42704') throw err;
  }
}
