/**
 * A plan's actions: writing them when planning, reading them in pages, in display order or one
 * by one, and recording their outcomes (DESIGN §2, §4).
 */
import type { Statement } from 'better-sqlite3';
import { decodeAction, type PlanAction, type ReplaceMode } from './action-decode.js';
import type { DB } from './db.js';
import type { ActionRow, ActionStatus, ActionType, PlannedAction } from './plan-types.js';
import { stmt } from './stmt.js';

export type { ActionRow, ActionStatus } from './plan-types.js';

/** Actions per INSERT statement, largest first: each size is one prepared statement. */
const ACTION_CHUNKS = [64, 16, 4, 1] as const;
/** Parameters per action row. */
const ACTION_PARAMS = 21;

/**
 * Writes a plan's actions, many rows per statement: one INSERT per action was a quarter of
 * plan's time on the reference tree (~30,000 actions, ~9.5 µs each), much of it each
 * statement's own round trip. A VALUES list is inserted in its order, so action ids (execution
 * order) follow the order actions are given in, as they did one row at a time.
 */
export class ActionWriter {
  private readonly byChunk = new Map<number, { stmt: Statement; args: unknown[] }>();
  constructor(
    private readonly db: DB,
    private readonly planId: number,
  ) {}

  /** Insert the groups' actions, in order. */
  write(
    groups: readonly { readonly groupNo: number; readonly actions: readonly PlannedAction[] }[],
  ): void {
    const rows: [number, PlannedAction][] = [];
    for (const g of groups) for (const a of g.actions) rows.push([g.groupNo, a]);
    let at = 0;
    while (at < rows.length) {
      const n = ACTION_CHUNKS.find((c) => c <= rows.length - at)!;
      this.chunk(rows, at, n);
      at += n;
    }
  }

  private statement(n: number): { stmt: Statement; args: unknown[] } {
    let s = this.byChunk.get(n);
    if (!s) {
      const one = `(${Array<string>(ACTION_PARAMS).fill('?').join(', ')})`;
      s = {
        // Cached by text (stmt.ts): plan writes each page of groups with a writer of its own.
        stmt: stmt(
          this.db,
          `INSERT INTO conductor_actions (plan_id, group_no, action_type, device_id, group_hash, size,
              source_device_id, source_path, target_path,
              source_inode, source_mtime_ns, source_ctime_ns, target_inode, target_mtime_ns, target_ctime_ns, target_nlink,
              bytes_to_save, keep_rule, reason, status, target_file_id)
           VALUES ${Array<string>(n).fill(one).join(', ')}`,
        ),
        args: new Array<unknown>(n * ACTION_PARAMS),
      };
      this.byChunk.set(n, s);
    }
    return s;
  }

  private chunk(rows: readonly [number, PlannedAction][], at: number, n: number): void {
    const { stmt: st, args } = this.statement(n);
    let k = 0;
    for (let i = at; i < at + n; i++) {
      const [groupNo, a] = rows[i]!;
      args[k++] = this.planId;
      args[k++] = groupNo;
      args[k++] = a.type;
      args[k++] = a.target.deviceId;
      args[k++] = a.target.sha256;
      args[k++] = a.target.size;
      args[k++] = a.source.deviceId;
      args[k++] = a.source.path;
      args[k++] = a.target.path;
      args[k++] = a.source.inode;
      args[k++] = a.source.mtimeNs;
      args[k++] = a.source.ctimeNs;
      args[k++] = a.target.inode;
      args[k++] = a.target.mtimeNs;
      args[k++] = a.target.ctimeNs;
      args[k++] = a.target.nlink;
      args[k++] = a.bytes;
      args[k++] = a.keepRule ?? null;
      args[k++] = a.reason ?? null;
      args[k++] = a.type === 'SKIP' ? 'skipped' : 'pending';
      args[k++] = a.target.fileId;
    }
    st.run(...args);
    // The arguments hold paths: let them go with the rows.
    args.fill(undefined);
  }
}

export function actionCounts(
  db: DB,
  planId: number,
): { type: ActionType; status: ActionStatus; reason: string | null; n: number; bytes: number }[] {
  return db
    .prepare(
      `SELECT action_type AS type, status, CASE WHEN action_type = 'SKIP' THEN reason END AS reason,
              count(*) AS n, coalesce(sum(bytes_to_save), 0) AS bytes
         FROM conductor_actions WHERE plan_id = ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    )
    .all(planId) as {
    type: ActionType;
    status: ActionStatus;
    reason: string | null;
    n: number;
    bytes: number;
  }[];
}

/** A conductor_actions row as SQLite gives it (safe integers). */
export interface RawAction {
  id: bigint;
  plan_id: bigint;
  group_no: bigint;
  action_type: ActionType;
  device_id: bigint;
  group_hash: Buffer | null;
  size: bigint;
  source_device_id: bigint;
  source_path: Buffer;
  target_path: Buffer;
  source_inode: bigint;
  source_mtime_ns: bigint;
  source_ctime_ns: bigint;
  target_inode: bigint;
  target_mtime_ns: bigint;
  target_ctime_ns: bigint;
  target_nlink: bigint;
  bytes_to_save: bigint;
  keep_rule: string | null;
  reason: string | null;
  status: ActionStatus;
  error: string | null;
  /** NULL in plans made before migration 8. */
  target_file_id: bigint | null;
  /** Set by `conductor undo` (NULL before it). */
  undo_status?: 'undone' | 'left' | 'failed' | null;
}

export function toAction(r: RawAction): ActionRow {
  return {
    id: Number(r.id),
    planId: Number(r.plan_id),
    groupNo: Number(r.group_no),
    type: r.action_type,
    deviceId: Number(r.device_id),
    groupHash: r.group_hash,
    size: Number(r.size),
    sourceDeviceId: Number(r.source_device_id),
    sourcePath: r.source_path,
    targetPath: r.target_path,
    sourceInode: r.source_inode,
    sourceMtimeNs: r.source_mtime_ns,
    sourceCtimeNs: r.source_ctime_ns,
    targetInode: r.target_inode,
    targetMtimeNs: r.target_mtime_ns,
    targetCtimeNs: r.target_ctime_ns,
    targetNlink: Number(r.target_nlink),
    bytes: Number(r.bytes_to_save),
    keepRule: r.keep_rule,
    reason: r.reason,
    status: r.status,
    error: r.error,
    targetFileId: r.target_file_id == null ? undefined : Number(r.target_file_id),
    undoStatus: r.undo_status ?? null,
  };
}

/** The columns of RawAction, in the order actionPage reads them as arrays. */
const ACTION_COLUMNS = [
  'id',
  'plan_id',
  'group_no',
  'action_type',
  'device_id',
  'group_hash',
  'size',
  'source_device_id',
  'source_path',
  'target_path',
  'source_inode',
  'source_mtime_ns',
  'source_ctime_ns',
  'target_inode',
  'target_mtime_ns',
  'target_ctime_ns',
  'target_nlink',
  'bytes_to_save',
  'keep_rule',
  'reason',
  'status',
  'error',
  'target_file_id',
  'undo_status',
] as const satisfies readonly (keyof RawAction)[];

/**
 * Actions in execution order (by id, i.e. group by group), paged. Rows come as arrays: building
 * an object with 22 named properties per row was half of the time execute spent reading its plan.
 */
export function actionPage(
  db: DB,
  planId: number,
  afterId: number,
  limit: number,
  types: readonly ActionType[],
): ActionRow[] {
  const marks = types.map(() => '?').join(', ');
  // A plan's actions have consecutive ids: walk the primary key (the unary '+' keeps SQLite
  // from choosing the (plan_id, action_type, …) index and sorting the whole plan per page).
  const rows = stmt(
    db,
    `SELECT ${ACTION_COLUMNS.join(', ')} FROM conductor_actions
      WHERE +plan_id = ? AND id > ? AND +action_type IN (${marks})
      ORDER BY id LIMIT ?`,
  )
    .safeIntegers(true)
    .raw(true)
    .all(planId, afterId, ...types, limit) as unknown[][];
  return rows.map((a) =>
    toAction({
      id: a[0],
      plan_id: a[1],
      group_no: a[2],
      action_type: a[3],
      device_id: a[4],
      group_hash: a[5],
      size: a[6],
      source_device_id: a[7],
      source_path: a[8],
      target_path: a[9],
      source_inode: a[10],
      source_mtime_ns: a[11],
      source_ctime_ns: a[12],
      target_inode: a[13],
      target_mtime_ns: a[14],
      target_ctime_ns: a[15],
      target_nlink: a[16],
      bytes_to_save: a[17],
      keep_rule: a[18],
      reason: a[19],
      status: a[20],
      error: a[21],
      target_file_id: a[22],
      undo_status: a[23],
    } as RawAction),
  );
}

/** The top actions for display: HARDLINK by bytes, then NOOP, then SKIP. */
export function topActions(db: DB, planId: number, limit: number): ActionRow[] {
  return (
    db
      .prepare(
        `SELECT * FROM conductor_actions WHERE plan_id = ?
          ORDER BY CASE action_type WHEN 'HARDLINK' THEN 0 WHEN 'NOOP' THEN 1 ELSE 2 END,
                   bytes_to_save DESC, size DESC, id
          LIMIT ?`,
      )
      .safeIntegers(true)
      .all(planId, limit < 0 ? -1 : limit) as RawAction[]
  ).map(toAction);
}

export function getAction(db: DB, id: number): ActionRow | undefined {
  const r = db
    .prepare('SELECT * FROM conductor_actions WHERE id = ?')
    .safeIntegers(true)
    .get(id) as RawAction | undefined;
  return r ? toAction(r) : undefined;
}

export function setActionOutcome(
  db: DB,
  id: number,
  status: ActionStatus,
  error: string | null,
  now = Date.now(),
): void {
  stmt(db, 'UPDATE conductor_actions SET status = ?, error = ?, executed_at = ? WHERE id = ?').run(
    status,
    error,
    now,
    id,
  );
}

/**
 * Bytes an execution freed: the sizes of the target inodes all of whose planned HARDLINK
 * actions are executed (an inode with one link left standing frees nothing).
 */
export function bytesFreed(db: DB, planId: number): number {
  const r = db
    .prepare(
      `SELECT coalesce(sum(size), 0) AS b FROM (
          SELECT max(size) AS size FROM conductor_actions
           WHERE plan_id = ? AND action_type = 'HARDLINK'
           GROUP BY device_id, target_inode
          HAVING sum(status != 'executed') = 0)`,
    )
    .get(planId) as { b: number };
  return r.b;
}

/** How many of a plan's actions have this status. */
export function countActions(db: DB, planId: number, status: ActionStatus): number {
  return (
    stmt(db, 'SELECT count(*) AS n FROM conductor_actions WHERE plan_id = ? AND status = ?').get(
      planId,
      status,
    ) as { n: number }
  ).n;
}

/** A page of a plan's actions in execution order, decoded (see actionPage and decodeAction). */
export function planActionPage(
  db: DB,
  plan: { readonly id: number; readonly mode: ReplaceMode },
  afterId: number,
  limit: number,
): PlanAction[] {
  return actionPage(db, plan.id, afterId, limit, ['HARDLINK', 'NOOP', 'SKIP']).map((r) =>
    decodeAction(r, plan.mode),
  );
}
