/**
 * A plan's report on PostgreSQL (`conductor report`, show-plan), with the semantics of
 * ../plan-report.ts and the summary figures of ../actions.ts, ../clones.ts,
 * ../metadata-changes.ts and ../scope.ts. Actions come in bounded pages: in execution order
 * by keyset (the ids after the previous page's last), in show-plan's order from a temporary
 * table of action ids numbered in that order (the server sorts, on disk if it must).
 */
import type pg from 'pg';
import { pgLimit, type Int } from './query-sql.js';
import { replaceMode } from '../action-decode.js';
import type { ActionRow } from '../actions.js';
import { pgToAction, pgToPlan, type PgRawPlan } from './action-rows.js';
import type { PlanDeviceTotals, PlanGroupTotals } from '../plan-report.js';
import type { PlanRow } from '../plans.js';
import type { ActionOrder, PlanReportQueries, PlanSummary } from '../query-port.js';
import type { StoredScope } from '../scope.js';
import type { ActionType } from '../plan-types.js';
import type { ActionStatus } from '../actions.js';
import { pgDeviceRecords } from './records.js';

async function getPlan(client: pg.Client, id: number): Promise<PlanRow | undefined> {
  const r = await client.query<PgRawPlan>('SELECT * FROM conductor_plans WHERE id = $1', [id]);
  return r.rows[0] ? pgToPlan(r.rows[0]) : undefined;
}

async function actionCounts(
  client: pg.Client,
  planId: number,
): Promise<PlanSummary['actionCounts']> {
  const r = await client.query<{
    type: ActionType;
    status: ActionStatus;
    reason: string | null;
    n: Int;
    bytes: Int;
  }>(
    `SELECT action_type AS type, status, CASE WHEN action_type = 'SKIP' THEN reason END AS reason,
            count(*) AS n, coalesce(sum(bytes_to_save), 0) AS bytes
       FROM conductor_actions WHERE plan_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    [planId],
  );
  return r.rows.map((c) => ({ ...c, n: Number(c.n), bytes: Number(c.bytes) }));
}

/**
 * Executed savings: whole target inodes all of whose actions are executed — their size
 * (hardlink: the inode is freed) or their planned own bytes (reflink: blocks now shared).
 */
async function executedSavings(client: pg.Client, planId: number, col: 'size' | 'bytes_to_save') {
  const r = await client.query<{ b: Int }>(
    `SELECT coalesce(sum(b), 0) AS b FROM (
        SELECT max(${col}) AS b FROM conductor_actions
         WHERE plan_id = $1 AND action_type = 'HARDLINK'
         GROUP BY device_id, target_inode
        HAVING sum((status <> 'executed')::int) = 0) done`,
    [planId],
  );
  return Number(r.rows[0]!.b);
}

async function metadataChanges(client: pg.Client, planId: number): Promise<number> {
  const r = await client.query<{ n: Int }>(
    `SELECT count(*) AS n FROM conductor_actions
      WHERE plan_id = $1 AND action_type = 'HARDLINK' AND source_mtime_ns <> target_mtime_ns`,
    [planId],
  );
  return Number(r.rows[0]!.n);
}

async function deviceTotals(client: pg.Client, planId: number): Promise<PlanDeviceTotals[]> {
  const r = await client.query<Record<string, Int>>(
    `SELECT device_id, count(*) AS actions,
            sum((action_type = 'HARDLINK')::int) AS hardlinks, sum((action_type = 'NOOP')::int) AS noop,
            sum((action_type = 'SKIP')::int) AS skip,
            coalesce(sum(CASE WHEN action_type = 'HARDLINK' THEN bytes_to_save END), 0) AS bytes
       FROM conductor_actions WHERE plan_id = $1 GROUP BY device_id ORDER BY bytes DESC, device_id`,
    [planId],
  );
  return r.rows.map((t) => ({
    deviceId: Number(t.device_id),
    actions: Number(t.actions),
    hardlinks: Number(t.hardlinks),
    noop: Number(t.noop),
    skip: Number(t.skip),
    bytesSaveable: Number(t.bytes),
  }));
}

async function topGroups(
  client: pg.Client,
  planId: number,
  limit: number,
): Promise<PlanGroupTotals[]> {
  const r = await client.query<{
    group_no: Int;
    device_id: Int;
    sha256: Buffer | null;
    size: Int;
    actions: Int;
    hardlinks: Int;
    bytes: Int;
  }>(
    `SELECT group_no, min(device_id) AS device_id, (array_agg(group_hash ORDER BY group_hash DESC NULLS LAST))[1] AS sha256, max(size) AS size,
            count(*) AS actions, sum((action_type = 'HARDLINK')::int) AS hardlinks,
            coalesce(sum(CASE WHEN action_type = 'HARDLINK' THEN bytes_to_save END), 0) AS bytes
       FROM conductor_actions WHERE plan_id = $1
      GROUP BY group_no HAVING coalesce(sum(CASE WHEN action_type = 'HARDLINK' THEN bytes_to_save END), 0) > 0
      ORDER BY bytes DESC, group_no LIMIT $2`,
    [planId, pgLimit(limit)],
  );
  return r.rows.map((g) => ({
    groupNo: Number(g.group_no),
    deviceId: Number(g.device_id),
    sha256: g.sha256,
    size: Number(g.size),
    actions: Number(g.actions),
    hardlinks: Number(g.hardlinks),
    bytesSaveable: Number(g.bytes),
  }));
}

async function planScope(client: pg.Client, planId: number): Promise<StoredScope[]> {
  const r = await client.query<{ device_id: Int; fs_path: Buffer; path: Buffer }>(
    'SELECT device_id, fs_path, path FROM conductor_plan_scope WHERE plan_id = $1 ORDER BY position',
    [planId],
  );
  return r.rows.map((s) => ({ deviceId: Number(s.device_id), fsPath: s.fs_path, path: s.path }));
}

async function summary(
  client: pg.Client,
  planId: number,
  top: number,
): Promise<PlanSummary | undefined> {
  const plan = await getPlan(client, planId);
  if (!plan) return undefined;
  const mode = replaceMode(plan);
  return {
    plan,
    mode,
    devices: [...(await pgDeviceRecords(client).list())],
    actionCounts: await actionCounts(client, planId),
    bytesFreed: await executedSavings(
      client,
      planId,
      mode === 'reflink' ? 'bytes_to_save' : 'size',
    ),
    deviceTotals: await deviceTotals(client, planId),
    // A reflink clone keeps the target's own metadata: nothing visible changes.
    metadataChanges: mode === 'hardlink' ? await metadataChanges(client, planId) : 0,
    topGroups: await topGroups(client, planId, top),
    scope: await planScope(client, planId),
  };
}

/** The plan's actions by id, a keyset page at a time (its ids are one range, in order). */
async function* byId(
  client: pg.Client,
  planId: number,
  size: number,
): AsyncGenerator<readonly ActionRow[], void, undefined> {
  let after = 0;
  for (;;) {
    const r = await client.query<Record<string, unknown>>(
      'SELECT * FROM conductor_actions WHERE plan_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [planId, after, size],
    );
    if (r.rows.length === 0) return;
    const page = r.rows.map(pgToAction);
    yield page;
    if (page.length < size) return;
    after = page[page.length - 1]!.id;
  }
}

/**
 * The first `limit` actions (all when negative) in show-plan's order: their ids numbered into
 * pg_temp.top_actions by one sorted statement, then read a page at a time by that number.
 */
async function* topFirst(
  client: pg.Client,
  planId: number,
  limit: number,
  size: number,
): AsyncGenerator<readonly ActionRow[], void, undefined> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.top_actions;
    CREATE TEMP TABLE top_actions (pos bigint PRIMARY KEY, id bigint NOT NULL)`);
  await client.query(
    // The inner ORDER BY … LIMIT keeps only the first `limit` (a top-N sort for show-plan's
    // few); the window numbers those in the same order.
    `INSERT INTO pg_temp.top_actions
     SELECT row_number() OVER (ORDER BY rank, bytes_to_save DESC, size DESC, id), id
       FROM (SELECT id, bytes_to_save, size,
                    CASE action_type WHEN 'HARDLINK' THEN 0 WHEN 'NOOP' THEN 1 ELSE 2 END AS rank
               FROM conductor_actions WHERE plan_id = $1
              ORDER BY rank, bytes_to_save DESC, size DESC, id
              LIMIT $2) top`,
    [planId, pgLimit(limit)],
  );
  let after = 0;
  for (;;) {
    const r = await client.query<Record<string, unknown>>(
      `SELECT t.pos AS top_pos, a.* FROM pg_temp.top_actions t JOIN conductor_actions a ON a.id = t.id
        WHERE t.pos > $1 ORDER BY t.pos LIMIT $2`,
      [after, size],
    );
    if (r.rows.length === 0) return;
    yield r.rows.map(({ top_pos: _pos, ...a }) => pgToAction(a));
    if (r.rows.length < size) return;
    after = Number(r.rows[r.rows.length - 1]!.top_pos);
  }
}

function actions(
  client: pg.Client,
  q: { readonly planId: number; readonly order: ActionOrder; readonly pageSize: number },
): AsyncIterable<readonly ActionRow[]> {
  const size = Math.max(1, q.pageSize);
  return q.order.kind === 'execution'
    ? byId(client, q.planId, size)
    : topFirst(client, q.planId, q.order.limit, size);
}

export function pgPlanReportQueries(client: pg.Client): PlanReportQueries {
  return {
    summary: ({ planId, topGroups: top }) => summary(client, planId, top),
    actions: (q) => actions(client, q),
  };
}
