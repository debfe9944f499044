/**
 * What the PostgreSQL CLI suites share: connections a test file opens to look into its
 * catalogs, closed together after it, a scan through the real CLI that must succeed, and a
 * fold started until it either ends or waits for a lock.
 */
import type pg from 'pg';
import { expect } from 'vitest';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { foldPgStoredTotals, type FoldOutcome } from '../../src/catalog/pg/stored-totals.js';
import { hashall } from './cli.js';

/** Connections opened by one test file, closed by `closeAll` (its afterAll). */
export class PgClients {
  private readonly open: pg.Client[] = [];

  async connect(url: string): Promise<pg.Client> {
    const { client } = await connectPg(url);
    this.open.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    for (const c of this.open.splice(0)) await c.end().catch(() => undefined);
  }
}

/** `hashall scan TREE --catalog URL --quiet`, which must exit 0 (its stderr shown if not). */
export function scanOk(tree: string, url: string): void {
  const r = hashall(['scan', tree, '--catalog', url, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}

/** A fold started on `folder`: its outcome once it ends, and the promise of its end. */
export interface StartedFold {
  outcome(): FoldOutcome | undefined;
  readonly done: Promise<FoldOutcome>;
}

/**
 * Start a fold of the stored totals on `folder` and resolve once it has either ended or is
 * waiting for a lock, as `watcher` (another connection) sees it: a state, not a time.
 */
export async function startFold(folder: pg.Client, watcher: pg.Client): Promise<StartedFold> {
  const pid = (await folder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  let outcome: FoldOutcome | undefined;
  const done = foldPgStoredTotals(folder).then((o) => (outcome = o));
  for (;;) {
    const w = await watcher.query<{ wait: string | null }>(
      'SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1',
      [pid],
    );
    if (outcome !== undefined || w.rows[0]?.wait === 'Lock') break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { outcome: () => outcome, done };
}
