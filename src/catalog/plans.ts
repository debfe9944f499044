/** Plans, their actions and the execution journal (DESIGN §2, §4). */
import type { Statement } from 'better-sqlite3';
import type { DB } from './open.js';
import type { ActionType, FiltersJson, PlannedAction } from './plan-types.js';
import { baseName, parentOf } from '../paths.js';
import { stmt } from './stmt.js';

/** The row id of an active file by its path inside its filesystem (indexed lookups only). */
export function fileIdByPath(db: DB, deviceId: number, path: Buffer): number | undefined {
  const dir = stmt(db, 'SELECT id FROM dirs WHERE device_id = ? AND path = ?').get(
    deviceId,
    Buffer.from(parentOf(path)),
  ) as { id: number } | undefined;
  if (!dir) return undefined;
  const f = stmt(db, `SELECT id FROM files WHERE dir_id = ? AND name = ?`).get(
    dir.id,
    Buffer.from(baseName(path)),
  ) as { id: number } | undefined;
  return f?.id;
}

export type PlanStatus =
  | 'pending'
  | 'executing'
  | 'executed'
  | 'partial'
  | 'interrupted'
  // After `conductor undo` (stored in undo_status; see catalog/undo.ts).
  | 'undoing'
  | 'undone'
  | 'partially-undone';
export type ActionStatus = 'pending' | 'executed' | 'noop' | 'failed' | 'skipped';

export interface PlanOptions {
  readonly deviceId: number | null;
  readonly deviceAlias: string | null;
  readonly sameDevice: boolean;
  readonly crossDevice: boolean;
  /** The keep rules, comma-separated (one rule in plans made before keep chains). */
  readonly keep: string;
  /** The keep rules in order (absent in older plans). */
  readonly keep_rules?: string[];
  /** The filters the plan was made with (absent in older plans: none). */
  readonly filters?: FiltersJson;
  /** How duplicates are replaced (absent in plans made before reflink mode: hardlink). */
  readonly mode?: 'hardlink' | 'reflink';
  /** Reflink plans: filesystems where no clone is possible, so nothing was planned there. */
  readonly reflink_unsupported?: { device: string; fs_type: string; reason: string }[];
}

export interface PlanRow {
  readonly id: number;
  readonly name: string;
  readonly status: PlanStatus;
  readonly createdAt: number;
  readonly executedAt: number | null;
  readonly options: PlanOptions;
  readonly opportunities: number;
  readonly bytesSaveable: number;
  readonly pendingGroups: number;
}

export interface ActionRow {
  readonly id: number;
  readonly planId: number;
  readonly groupNo: number;
  readonly type: ActionType;
  readonly deviceId: number;
  readonly groupHash: Buffer | null;
  readonly size: number;
  readonly sourceDeviceId: number;
  readonly sourcePath: Buffer;
  readonly targetPath: Buffer;
  readonly sourceInode: bigint;
  readonly sourceMtimeNs: bigint;
  readonly sourceCtimeNs: bigint;
  readonly targetInode: bigint;
  readonly targetMtimeNs: bigint;
  readonly targetCtimeNs: bigint;
  readonly targetNlink: number;
  readonly bytes: number;
  readonly keepRule: string | null;
  readonly reason: string | null;
  readonly status: ActionStatus;
  readonly error: string | null;
  /** The target's catalog row when the plan was made (undefined in plans made before). */
  readonly targetFileId: number | undefined;
  /** What `conductor undo` did to this action (null before any undo; see catalog/undo.ts). */
  readonly undoStatus?: 'undone' | 'left' | 'failed' | null;
}

interface RawPlan {
  id: number;
  name: string;
  status: PlanStatus;
  created_at: number;
  executed_at: number | null;
  options: string;
  total_opportunities: number;
  total_bytes_saveable: number;
  pending_groups: number;
  /** Set by `conductor undo` (NULL before it, and in catalogs made before undo). */
  undo_status?: PlanStatus | null;
}

function toPlan(r: RawPlan): PlanRow {
  return {
    id: r.id,
    name: r.name,
    status: r.undo_status ?? r.status,
    createdAt: r.created_at,
    executedAt: r.executed_at,
    options: JSON.parse(r.options) as PlanOptions,
    opportunities: r.total_opportunities,
    bytesSaveable: r.total_bytes_saveable,
    pendingGroups: r.pending_groups,
  };
}

export function insertPlan(db: DB, name: string, options: PlanOptions, now = Date.now()): number {
  return Number(
    db
      .prepare(
        `INSERT INTO conductor_plans (name, status, created_at, options, total_opportunities, total_bytes_saveable)
         VALUES (?, 'pending', ?, ?, 0, 0)`,
      )
      .run(name, now, JSON.stringify(options)).lastInsertRowid,
  );
}

export class ActionWriter {
  private readonly ins: Statement;
  constructor(
    db: DB,
    private readonly planId: number,
  ) {
    this.ins = stmt(
      db,
      `INSERT INTO conductor_actions (plan_id, group_no, action_type, device_id, group_hash, size,
          source_device_id, source_path, target_path,
          source_inode, source_mtime_ns, source_ctime_ns, target_inode, target_mtime_ns, target_ctime_ns, target_nlink,
          bytes_to_save, keep_rule, reason, status, target_file_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  add(groupNo: number, a: PlannedAction): void {
    this.ins.run(
      this.planId,
      groupNo,
      a.type,
      a.target.deviceId,
      a.target.sha256,
      a.target.size,
      a.source.deviceId,
      a.source.path,
      a.target.path,
      a.source.inode,
      a.source.mtimeNs,
      a.source.ctimeNs,
      a.target.inode,
      a.target.mtimeNs,
      a.target.ctimeNs,
      a.target.nlink,
      a.bytes,
      a.keepRule ?? null,
      a.reason ?? null,
      a.type === 'SKIP' ? 'skipped' : 'pending',
      a.target.fileId,
    );
  }
}

export function finalizePlanTotals(db: DB, planId: number, pendingGroups: number): void {
  stmt(
    db,
    `UPDATE conductor_plans SET
        total_opportunities = (SELECT count(*) FROM conductor_actions
                                WHERE plan_id = @plan AND action_type = 'HARDLINK' AND bytes_to_save > 0),
        total_bytes_saveable = (SELECT coalesce(sum(bytes_to_save), 0) FROM conductor_actions
                                 WHERE plan_id = @plan AND action_type = 'HARDLINK'),
        pending_groups = @pending
      WHERE id = @plan`,
  ).run({ plan: planId, pending: pendingGroups });
}

export function getPlan(db: DB, id: number): PlanRow | undefined {
  const r = stmt(db, 'SELECT * FROM conductor_plans WHERE id = ?').get(id) as RawPlan | undefined;
  return r ? toPlan(r) : undefined;
}

export function listPlans(db: DB): PlanRow[] {
  return (stmt(db, 'SELECT * FROM conductor_plans ORDER BY id').all() as RawPlan[]).map(toPlan);
}

export function setPlanStatus(db: DB, id: number, status: PlanStatus, executedAt?: number): void {
  if (executedAt === undefined)
    stmt(db, 'UPDATE conductor_plans SET status = ? WHERE id = ?').run(status, id);
  else
    stmt(db, 'UPDATE conductor_plans SET status = ?, executed_at = ? WHERE id = ?').run(
      status,
      executedAt,
      id,
    );
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
  /** Read by `SELECT *` only (undo's migration). */
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

/**
 * Our own link or rename changed an inode's ctime and link count. Recorded once per inode (not
 * on every action that names it, which made big groups quadratic), in the same transaction as
 * the outcome, so that neither this run nor a resumed one mistakes our change for someone else's.
 */
export function propagateIdentity(
  db: DB,
  planId: number,
  deviceId: number,
  inode: bigint,
  ctimeNs: bigint,
  nlink: number,
): void {
  stmt(
    db,
    `INSERT INTO conductor_inode_state (plan_id, device_id, inode, ctime_ns, nlink) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (plan_id, device_id, inode) DO UPDATE SET ctime_ns = excluded.ctime_ns, nlink = excluded.nlink`,
  ).run(planId, deviceId, inode, ctimeNs, nlink);
}

/** The ctime our own operations last left on an inode during this plan's execution. */
export function ownCtime(
  db: DB,
  planId: number,
  deviceId: number,
  inode: bigint,
): bigint | undefined {
  const r = stmt(
    db,
    `SELECT ctime_ns FROM conductor_inode_state WHERE plan_id = ? AND device_id = ? AND inode = ?`,
  )
    .safeIntegers(true)
    .get(planId, deviceId, inode) as { ctime_ns: bigint } | undefined;
  return r?.ctime_ns;
}

// --- journal ---------------------------------------------------------------------------

export interface JournalRow {
  readonly actionId: number;
  readonly planId: number;
  readonly sourceAbs: Buffer;
  readonly targetAbs: Buffer;
  readonly tempAbs: Buffer;
}

export function journalIntent(db: DB, j: JournalRow, now = Date.now()): void {
  stmt(
    db,
    `INSERT OR REPLACE INTO conductor_journal (action_id, plan_id, source_abs, target_abs, temp_abs, started_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(j.actionId, j.planId, j.sourceAbs, j.targetAbs, j.tempAbs, now);
}

export function journalDone(db: DB, actionId: number): void {
  stmt(db, 'DELETE FROM conductor_journal WHERE action_id = ?').run(actionId);
}

export function openJournal(db: DB): JournalRow[] {
  return (
    stmt(db, 'SELECT * FROM conductor_journal ORDER BY action_id').all() as {
      action_id: number;
      plan_id: number;
      source_abs: Buffer;
      target_abs: Buffer;
      temp_abs: Buffer;
    }[]
  ).map((r) => ({
    actionId: r.action_id,
    planId: r.plan_id,
    sourceAbs: r.source_abs,
    targetAbs: r.target_abs,
    tempAbs: r.temp_abs,
  }));
}

// --- executor lock ---------------------------------------------------------------------

export interface LockHolder {
  readonly pid: number;
  readonly startTime: string;
  readonly hostname: string;
  readonly planId: number | null;
  readonly acquiredAt: number;
}

export function readLock(db: DB): LockHolder | undefined {
  const r = stmt(db, 'SELECT * FROM executor_lock WHERE id = 1').get() as
    | {
        pid: number;
        start_time: string;
        hostname: string;
        plan_id: number | null;
        acquired_at: number;
      }
    | undefined;
  return r
    ? {
        pid: r.pid,
        startTime: r.start_time,
        hostname: r.hostname,
        planId: r.plan_id,
        acquiredAt: r.acquired_at,
      }
    : undefined;
}

export function writeLock(db: DB, h: LockHolder): void {
  stmt(
    db,
    `INSERT OR REPLACE INTO executor_lock (id, pid, start_time, hostname, plan_id, acquired_at) VALUES (1, ?, ?, ?, ?, ?)`,
  ).run(h.pid, h.startTime, h.hostname, h.planId, h.acquiredAt);
}

export function clearLock(db: DB, pid: number): void {
  stmt(db, 'DELETE FROM executor_lock WHERE id = 1 AND pid = ?').run(pid);
}

// --- catalog rows after a replacement -------------------------------------------------

/** What a replaced target's row takes from the source inode's row (same content). */
interface SourceRow {
  prefix_hash: Buffer;
  sha256: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Source rows already read, by `device:inode`: the actions of a group share their source, so
 * an outcome transaction reads it once. Valid for one transaction (nothing else writes then).
 */
export type SourceRows = Map<string, SourceRow | undefined>;

/**
 * After `target` became a link of the source inode: its row takes the source's identity and
 * hashes (same content). The other rows of both inodes are brought up to date once per group
 * with recordInodeMeta, not once per action.
 *
 * The row is found by `targetFileId` (the plan's record of it; rows are never deleted or moved,
 * and the name is checked), or by its path when the plan has none or the id no longer matches.
 */
export function recordReplacement(
  db: DB,
  deviceId: number,
  targetPath: Buffer,
  sourceInode: bigint,
  st: { nlink: number; ctimeNs: bigint; mtimeNs: bigint },
  targetFileId?: number,
  sources?: SourceRows,
): void {
  const key = `${deviceId}:${sourceInode}`;
  let src: SourceRow | undefined;
  if (sources?.has(key)) src = sources.get(key);
  else {
    src = stmt(
      db,
      `SELECT prefix_hash, sha256, mode, uid, gid FROM files
        WHERE device_id = ? AND inode = ? AND status = 'active' AND sha256 IS NOT NULL LIMIT 1`,
    ).get(deviceId, sourceInode) as SourceRow | undefined;
    sources?.set(key, src);
  }
  const values = [
    sourceInode,
    st.nlink,
    st.mtimeNs,
    st.ctimeNs,
    src?.prefix_hash ?? null,
    src?.sha256 ?? null,
    src?.mode ?? null,
    src?.uid ?? null,
    src?.gid ?? null,
  ];
  const set = `UPDATE files SET inode = ?, nlink = ?, mtime_ns = ?, ctime_ns = ?,
                      prefix_hash = coalesce(?, prefix_hash), sha256 = coalesce(?, sha256),
                      mode = coalesce(?, mode), uid = coalesce(?, uid), gid = coalesce(?, gid)`;
  if (
    targetFileId !== undefined &&
    stmt(db, `${set} WHERE id = ? AND device_id = ? AND name = ?`).run(
      ...values,
      targetFileId,
      deviceId,
      Buffer.from(baseName(targetPath)),
    ).changes > 0
  ) {
    return;
  }
  const target = fileIdByPath(db, deviceId, targetPath);
  if (target === undefined) return;
  stmt(db, `${set} WHERE id = ?`).run(...values, target);
}

/** Every active row of an inode takes its current link count and ctime. */
export function recordInodeMeta(
  db: DB,
  deviceId: number,
  inode: bigint,
  st: { nlink: number; ctimeNs: bigint },
): void {
  stmt(
    db,
    `UPDATE files SET nlink = ?, ctime_ns = ? WHERE device_id = ? AND inode = ? AND status = 'active'`,
  ).run(st.nlink, st.ctimeNs, deviceId, inode);
}
