/**
 * Plans on PostgreSQL: PlanRecords of the plan port (../plan-port.ts) with the semantics of
 * ../plans.ts, ../scope.ts (a plan's stored scope), ../metadata-changes.ts and ../undo.ts's
 * discard. A plan and its scope are one transaction; a plan list's scopes are one query.
 */
import type pg from 'pg';
import { replaceMode } from '../action-decode.js';
import type { LockHolder } from '../executor-lock.js';
import type { DiscardResult, PlanRecords } from '../plan-port.js';
import type { PlanRow } from '../plans.js';
import type { StoredScope } from '../scope.js';
import { pgToPlan, type PgRawPlan } from './action-rows.js';
import { exactRows } from './exact.js';
import { pgHashingOps } from './hashing.js';
import { pgUnitOfWork } from './tx.js';

async function getPlan(client: pg.Client, id: number): Promise<PlanRow | undefined> {
  const [r] = await exactRows<PgRawPlan>(client, 'SELECT * FROM conductor_plans WHERE id = $1', [
    id,
  ]);
  return r ? pgToPlan(r) : undefined;
}

interface RawScope {
  plan_id: bigint;
  device_id: bigint;
  fs_path: Buffer;
  path: Buffer;
}

/** The scopes of these plans, each in the order given (empty for a plan without one). */
async function scopes(
  client: pg.Client,
  ids: readonly number[],
): Promise<Map<number, StoredScope[]>> {
  const out = new Map<number, StoredScope[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const rows = await exactRows<RawScope>(
    client,
    `SELECT plan_id, device_id, fs_path, path FROM conductor_plan_scope
      WHERE plan_id = ANY($1::int8[]) ORDER BY plan_id, position`,
    [ids],
  );
  for (const r of rows) {
    out.get(Number(r.plan_id))?.push({
      deviceId: Number(r.device_id),
      fsPath: r.fs_path,
      path: r.path,
    });
  }
  return out;
}

/** Delete a plan still pending, under a row lock: an execute marking it meanwhile waits. */
async function discardPending(client: pg.Client, id: number): Promise<DiscardResult> {
  return pgUnitOfWork(client, async () => {
    const [r] = await exactRows<{ status: string; undo_status: string | null }>(
      client,
      'SELECT status, undo_status FROM conductor_plans WHERE id = $1 FOR UPDATE',
      [id],
    );
    if (!r) return { kind: 'missing' };
    if (r.status !== 'pending' || r.undo_status !== null)
      return { kind: 'refused', status: r.undo_status ?? r.status };
    const [n] = await exactRows<{ n: bigint }>(
      client,
      'SELECT count(*) AS n FROM conductor_actions WHERE plan_id = $1',
      [id],
    );
    await client.query('DELETE FROM conductor_plans WHERE id = $1', [id]);
    return { kind: 'deleted', actions: Number(n!.n) };
  });
}

export function pgPlanRecords(client: pg.Client): PlanRecords {
  const hashing = pgHashingOps(client);
  return {
    create: (p) =>
      pgUnitOfWork(client, async () => {
        const [r] = await exactRows<{ id: bigint }>(
          client,
          `INSERT INTO conductor_plans (name, status, created_at, options, total_opportunities, total_bytes_saveable)
           VALUES ($1, 'pending', $2, $3, 0, 0) RETURNING id`,
          [p.name, Date.now(), JSON.stringify(p.options)],
        );
        const id = Number(r!.id);
        if (p.scope.length > 0) {
          await client.query(
            `INSERT INTO conductor_plan_scope (plan_id, position, device_id, fs_path, path)
             SELECT $1, s.position - 1, s.device_id, s.fs_path, s.path
               FROM unnest($2::int8[], $3::bytea[], $4::bytea[]) WITH ORDINALITY
                    AS s(device_id, fs_path, path, position)`,
            [
              id,
              p.scope.map((s) => s.deviceId),
              p.scope.map((s) => s.fsPath),
              p.scope.map((s) => s.path),
            ],
          );
        }
        return id;
      }),
    get: (id) => getPlan(client, id),
    async list() {
      const rows = await exactRows<PgRawPlan>(client, 'SELECT * FROM conductor_plans ORDER BY id');
      return rows.map(pgToPlan);
    },
    async setStatus({ id, status, executedAt }) {
      if (executedAt === undefined)
        await client.query('UPDATE conductor_plans SET status = $1 WHERE id = $2', [status, id]);
      else
        await client.query(
          'UPDATE conductor_plans SET status = $1, executed_at = $2 WHERE id = $3',
          [status, executedAt, id],
        );
    },
    async finalize(id) {
      const pending = await hashing.pending();
      await client.query(
        `UPDATE conductor_plans SET
            total_opportunities = (SELECT count(*) FROM conductor_actions
                                    WHERE plan_id = $1 AND action_type = 'HARDLINK' AND bytes_to_save > 0),
            total_bytes_saveable = (SELECT coalesce(sum(bytes_to_save), 0) FROM conductor_actions
                                     WHERE plan_id = $1 AND action_type = 'HARDLINK'),
            pending_groups = $2
          WHERE id = $1`,
        [id, pending],
      );
    },
    // Read, change and write the options under the plan's row lock (as SQLite's, which runs in
    // the plan's unit of work).
    setReflinkOptions: (id, unsupported) =>
      pgUnitOfWork(client, async () => {
        const [row] = await exactRows<{ options: string }>(
          client,
          'SELECT options FROM conductor_plans WHERE id = $1 FOR UPDATE',
          [id],
        );
        const options = JSON.parse(row!.options) as Record<string, unknown>;
        options.mode = 'reflink';
        options.reflink_unsupported = unsupported;
        await client.query('UPDATE conductor_plans SET options = $1 WHERE id = $2', [
          JSON.stringify(options),
          id,
        ]);
      }),
    async scope(id) {
      return (await scopes(client, [id])).get(id) ?? [];
    },
    scopes: (ids) => scopes(client, ids),
    async metadataChanges(id) {
      const plan = await getPlan(client, id);
      if (!plan || replaceMode(plan) !== 'hardlink') return 0;
      const [r] = await exactRows<{ n: bigint }>(
        client,
        `SELECT count(*) AS n FROM conductor_actions
          WHERE plan_id = $1 AND action_type = 'HARDLINK' AND source_mtime_ns != target_mtime_ns`,
        [id],
      );
      return Number(r!.n);
    },
    async lockHolder(): Promise<LockHolder | undefined> {
      const [r] = await exactRows<{
        pid: bigint;
        start_time: string;
        hostname: string;
        plan_id: bigint | null;
        acquired_at: bigint;
      }>(
        client,
        // As SQLite's: the holder that took a device's lock most recently (the lock is per
        // device; executorLock.holders() lists them all).
        'SELECT * FROM executor_device_lock ORDER BY acquired_at DESC, device_id LIMIT 1',
      );
      return r
        ? {
            pid: Number(r.pid),
            startTime: r.start_time,
            hostname: r.hostname,
            planId: r.plan_id === null ? null : Number(r.plan_id),
            acquiredAt: Number(r.acquired_at),
          }
        : undefined;
    },
    discardPending: (id) => discardPending(client, id),
  };
}
