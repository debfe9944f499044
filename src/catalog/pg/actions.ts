/**
 * A plan's actions on PostgreSQL: PlanActionRecords of the plan port (../plan-port.ts) with the
 * semantics of ../actions.ts. A batch of groups' actions is one INSERT over column arrays
 * (unnest), so a page of planning is one round trip and atomic by itself; rows read back with
 * int8 as BigInt (./exact.ts) and decode as ../actions.ts's `toAction` does for SQLite.
 */
import type pg from 'pg';
import { toAction, type ActionRow, type ActionStatus, type RawAction } from '../actions.js';
import type { ActionType } from '../plan-types.js';
import type { PlanActionRecords, PlannedGroup } from '../plan-port.js';
import { exactRows } from './exact.js';

/** conductor_actions as read whole: ../actions.ts's RawAction, every int8 a BigInt. */
export const ACTION_SELECT = `SELECT id, plan_id, group_no, action_type, device_id, group_hash, size,
        source_device_id, source_path, target_path, source_inode, source_mtime_ns, source_ctime_ns,
        target_inode, target_mtime_ns, target_ctime_ns, target_nlink, bytes_to_save, keep_rule,
        reason, status, error, target_file_id, undo_status`;

export async function actionRows(
  client: pg.Client,
  sql: string,
  values: readonly unknown[],
): Promise<ActionRow[]> {
  return (await exactRows<RawAction & pg.QueryResultRow>(client, sql, values)).map(toAction);
}

/** One INSERT for a batch of groups' actions (one statement: atomic without a transaction). */
async function write(
  client: pg.Client,
  planId: number,
  groups: readonly PlannedGroup[],
): Promise<void> {
  const cols = {
    group_no: [] as number[],
    action_type: [] as string[],
    device_id: [] as number[],
    group_hash: [] as (Buffer | null)[],
    size: [] as number[],
    source_device_id: [] as number[],
    source_path: [] as Buffer[],
    target_path: [] as Buffer[],
    source_inode: [] as bigint[],
    source_mtime_ns: [] as bigint[],
    source_ctime_ns: [] as bigint[],
    target_inode: [] as bigint[],
    target_mtime_ns: [] as bigint[],
    target_ctime_ns: [] as bigint[],
    target_nlink: [] as number[],
    bytes_to_save: [] as number[],
    keep_rule: [] as (string | null)[],
    reason: [] as (string | null)[],
    status: [] as string[],
    target_file_id: [] as number[],
  };
  for (const g of groups) {
    for (const a of g.actions) {
      cols.group_no.push(g.groupNo);
      cols.action_type.push(a.type);
      cols.device_id.push(a.target.deviceId);
      cols.group_hash.push(a.target.sha256);
      cols.size.push(a.target.size);
      cols.source_device_id.push(a.source.deviceId);
      cols.source_path.push(a.source.path);
      cols.target_path.push(a.target.path);
      cols.source_inode.push(a.source.inode);
      cols.source_mtime_ns.push(a.source.mtimeNs);
      cols.source_ctime_ns.push(a.source.ctimeNs);
      cols.target_inode.push(a.target.inode);
      cols.target_mtime_ns.push(a.target.mtimeNs);
      cols.target_ctime_ns.push(a.target.ctimeNs);
      cols.target_nlink.push(a.target.nlink);
      cols.bytes_to_save.push(a.bytes);
      cols.keep_rule.push(a.keepRule ?? null);
      cols.reason.push(a.reason ?? null);
      cols.status.push(a.type === 'SKIP' ? 'skipped' : 'pending');
      cols.target_file_id.push(a.target.fileId);
    }
  }
  if (cols.group_no.length === 0) return;
  // WITH ORDINALITY … ORDER BY: ids follow the order given, as SQLite's one insert per action
  // (execution pages by id, group by group).
  await client.query(
    `INSERT INTO conductor_actions (plan_id, group_no, action_type, device_id, group_hash, size,
        source_device_id, source_path, target_path, source_inode, source_mtime_ns, source_ctime_ns,
        target_inode, target_mtime_ns, target_ctime_ns, target_nlink, bytes_to_save, keep_rule,
        reason, status, target_file_id)
     SELECT $1, a.group_no, a.action_type, a.device_id, a.group_hash, a.size, a.source_device_id,
            a.source_path, a.target_path, a.source_inode, a.source_mtime_ns, a.source_ctime_ns,
            a.target_inode, a.target_mtime_ns, a.target_ctime_ns, a.target_nlink, a.bytes_to_save,
            a.keep_rule, a.reason, a.status, a.target_file_id
       FROM unnest($2::int8[], $3::text[], $4::int8[], $5::bytea[], $6::int8[], $7::int8[],
                   $8::bytea[], $9::bytea[], $10::int8[], $11::int8[], $12::int8[], $13::int8[],
                   $14::int8[], $15::int8[], $16::int8[], $17::int8[], $18::text[], $19::text[],
                   $20::text[], $21::int8[])
            WITH ORDINALITY AS a(group_no, action_type, device_id, group_hash, size,
                   source_device_id, source_path, target_path, source_inode, source_mtime_ns,
                   source_ctime_ns, target_inode, target_mtime_ns, target_ctime_ns, target_nlink,
                   bytes_to_save, keep_rule, reason, status, target_file_id, n)
      ORDER BY a.n`,
    [planId, ...Object.values(cols)],
  );
}

export function pgPlanActionRecords(client: pg.Client): PlanActionRecords {
  return {
    write: (planId, groups) => write(client, planId, groups),
    // Text ordered by bytes, NULL first: SQLite's order, whatever the database's collation.
    async counts(planId) {
      const rows = await exactRows<{
        type: ActionType;
        status: ActionStatus;
        reason: string | null;
        n: bigint;
        bytes: string;
      }>(
        client,
        `SELECT action_type AS type, status, CASE WHEN action_type = 'SKIP' THEN reason END AS reason,
                count(*) AS n, coalesce(sum(bytes_to_save), 0) AS bytes
           FROM conductor_actions WHERE plan_id = $1 GROUP BY 1, 2, 3
          ORDER BY action_type COLLATE "C", status COLLATE "C",
                   (CASE WHEN action_type = 'SKIP' THEN reason END) COLLATE "C" NULLS FIRST`,
        [planId],
      );
      return rows.map((r) => ({ ...r, n: Number(r.n), bytes: Number(r.bytes) }));
    },
    // LIMIT NULL is no limit (SQLite's LIMIT -1).
    top: (planId, limit) =>
      actionRows(
        client,
        `${ACTION_SELECT} FROM conductor_actions WHERE plan_id = $1
          ORDER BY CASE action_type WHEN 'HARDLINK' THEN 0 WHEN 'NOOP' THEN 1 ELSE 2 END,
                   bytes_to_save DESC, size DESC, id
          LIMIT $2`,
        [planId, limit < 0 ? null : limit],
      ),
    page: (q) =>
      actionRows(
        client,
        `${ACTION_SELECT} FROM conductor_actions
          WHERE plan_id = $1 AND id > $2 AND action_type = ANY($3::text[])
          ORDER BY id LIMIT $4`,
        [q.planId, q.afterId, q.types, q.limit],
      ),
  };
}
