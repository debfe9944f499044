/**
 * The execution and replacement concerns of the execute port on PostgreSQL (ExecutionOps and
 * ReplacementOps of ../execute-port.ts), with the semantics of their SQLite implementation:
 * the plan, its devices, its pages of actions in execution order, its counts and bytes.
 */
import type pg from 'pg';
import { decodeAction } from '../action-decode.js';
import type { ExecutionOps, ReplacementOps } from '../execute-port.js';
import { actionColumns, pgToAction, pgToPlan, type PgRawPlan } from './action-rows.js';
import { pgDeviceRecords } from './records.js';
import { pgCatalogInodes, pgOwnCtimes } from './replacement.js';

async function one<T extends pg.QueryResultRow>(
  client: pg.Client,
  sql: string,
  params: unknown[],
): Promise<T> {
  return (await client.query<T>(sql, params)).rows[0]!;
}

/** Bytes freed (hardlink) or made shared (reflink): inodes all of whose actions executed. */
function bytesSql(column: 'size' | 'bytes_to_save'): string {
  return `SELECT coalesce(sum(b), 0) AS b FROM (
            SELECT max(${column}) AS b FROM conductor_actions
             WHERE plan_id = $1 AND action_type = 'HARDLINK'
             GROUP BY device_id, target_inode
            HAVING sum(CASE WHEN status <> 'executed' THEN 1 ELSE 0 END) = 0) x`;
}

export function pgExecutionOps(client: pg.Client): ExecutionOps {
  return {
    async plan(id) {
      const r = await client.query<PgRawPlan>('SELECT * FROM conductor_plans WHERE id = $1', [id]);
      return r.rows[0] ? pgToPlan(r.rows[0]) : undefined;
    },
    async planDevices(planId) {
      const r = await client.query<{ d: string }>(
        `SELECT device_id AS d FROM conductor_actions WHERE plan_id = $1
          UNION SELECT source_device_id FROM conductor_actions WHERE plan_id = $1 ORDER BY 1`,
        [planId],
      );
      return r.rows.map((row) => Number(row.d));
    },
    async replacements(planId) {
      const r = await one<{ n: string; b: string }>(
        client,
        `SELECT count(*) AS n, coalesce(sum(bytes_to_save), 0) AS b FROM conductor_actions
          WHERE plan_id = $1 AND action_type = 'HARDLINK'`,
        [planId],
      );
      return { actions: Number(r.n), bytes: Number(r.b) };
    },
    async actionPage({ plan, after, limit }) {
      const r = await client.query<Record<string, unknown>>(
        `SELECT ${actionColumns()} FROM conductor_actions
          WHERE plan_id = $1 AND id > $2 AND action_type IN ('HARDLINK', 'NOOP', 'SKIP')
          ORDER BY id LIMIT $3`,
        [plan.id, after, limit],
      );
      return r.rows.map((row) => decodeAction(pgToAction(row), plan.mode));
    },
    async scanRoots(deviceId) {
      const r = await client.query<{ fs_path: Buffer }>(
        `SELECT DISTINCT fs_path FROM scans WHERE device_id = $1 AND fs_path IS NOT NULL
            AND status IN ('completed', 'interrupted', 'failed')`,
        [deviceId],
      );
      return r.rows.map((row) => row.fs_path);
    },
    devices: async () => [...(await pgDeviceRecords(client).list())],
    async setStatus({ planId, status, endedAt }) {
      if (endedAt === undefined)
        await client.query('UPDATE conductor_plans SET status = $1 WHERE id = $2', [
          status,
          planId,
        ]);
      else
        await client.query(
          'UPDATE conductor_plans SET status = $1, executed_at = $2 WHERE id = $3',
          [status, endedAt, planId],
        );
    },
    async failedCount(planId) {
      const r = await one<{ n: string }>(
        client,
        `SELECT count(*) AS n FROM conductor_actions WHERE plan_id = $1 AND status = 'failed'`,
        [planId],
      );
      return Number(r.n);
    },
    async bytesSaved(plan) {
      const r = await one<{ b: string }>(
        client,
        bytesSql(plan.mode === 'reflink' ? 'bytes_to_save' : 'size'),
        [plan.id],
      );
      return Number(r.b);
    },
  };
}

export function pgReplacementOps(client: pg.Client): ReplacementOps {
  return {
    ownCtimes: (req) => pgOwnCtimes(client, req.planId, req.inodes),
    catalogInodes: (paths) => pgCatalogInodes(client, paths),
  };
}
