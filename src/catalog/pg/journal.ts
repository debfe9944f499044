/**
 * The execution journal on PostgreSQL: the JournalOps of ../execute-port.ts with the semantics
 * of ../execution.ts. Each operation is one transaction (joining one already open, as SQLite's
 * nested `db.transaction`) over a batch, with a fixed number of statements whatever its size:
 * intents are committed before the filesystem is touched, a batch of outcomes lands whole or
 * not at all, and recovery reads every open row back with its action in one query.
 */
import type pg from 'pg';
import { replaceMode, type ReplaceMode } from '../action-decode.js';
import type { ActionStatus } from '../actions.js';
import type { JournalOps, OpenJournalEntry } from '../execute-port.js';
import type { AppliedOutcome, Intent, RecoveryDecision, Verdict } from '../execution.js';
import type { PlanOptions } from '../plans.js';
import { actionColumns, pgToAction } from './action-rows.js';
import { pgRecordClones, pgRecordInodeChanges, pgRecordReplacements } from './replacement.js';
import { EXECUTOR_LOCK_SPACE, LIVE_LOCK } from './executor-lock.js';
import { pgUnitOfWork } from './tx.js';

async function journalIntents(client: pg.Client, batch: readonly Intent[]): Promise<void> {
  if (batch.length === 0) return;
  const now = Date.now();
  const j = batch.map((i) => i.journal);
  await pgUnitOfWork(client, async () => {
    // INSERT OR REPLACE: a resumed run journals an action again.
    await client.query(
      `INSERT INTO conductor_journal (action_id, plan_id, source_abs, target_abs, temp_abs, started_at)
       SELECT a, p, s, t, m, $6 FROM unnest($1::int8[], $2::int8[], $3::bytea[], $4::bytea[], $5::bytea[])
              AS u(a, p, s, t, m)
       ON CONFLICT (action_id) DO UPDATE SET plan_id = excluded.plan_id, source_abs = excluded.source_abs,
              target_abs = excluded.target_abs, temp_abs = excluded.temp_abs,
              started_at = excluded.started_at, temp_inode = NULL`,
      [
        j.map((x) => x.actionId),
        j.map((x) => x.planId),
        j.map((x) => x.sourceAbs),
        j.map((x) => x.targetAbs),
        j.map((x) => x.tempAbs),
        now,
      ],
    );
    const orig = batch.filter((i) => i.originalTarget !== undefined);
    if (orig.length === 0) return;
    const st = orig.map((i) => i.originalTarget!);
    await client.query(
      `UPDATE conductor_actions a SET orig_uid = u.uid, orig_gid = u.gid, orig_mode = u.mode,
              orig_atime_ns = u.atime, orig_mtime_ns = u.mtime
         FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
              AS u(id, uid, gid, mode, atime, mtime)
        WHERE a.id = u.id`,
      [
        orig.map((i) => i.journal.actionId),
        st.map((s) => s.uid),
        st.map((s) => s.gid),
        st.map((s) => s.mode),
        st.map((s) => s.atimeNs),
        st.map((s) => s.mtimeNs),
      ],
    );
  });
}

/** Actions' outcomes, one statement for the batch (call inside a transaction). */
async function setOutcomes(
  client: pg.Client,
  list: readonly { id: number; status: ActionStatus; error: string | null }[],
  now: number,
): Promise<void> {
  if (list.length === 0) return;
  await client.query(
    `UPDATE conductor_actions a SET status = u.status, error = u.error, executed_at = $4
       FROM unnest($1::int8[], $2::text[], $3::text[]) AS u(id, status, error)
      WHERE a.id = u.id`,
    [list.map((o) => o.id), list.map((o) => o.status), list.map((o) => o.error), now],
  );
}

async function journalDone(client: pg.Client, actionIds: readonly number[]): Promise<void> {
  if (actionIds.length === 0) return;
  await client.query('DELETE FROM conductor_journal WHERE action_id = ANY($1::int8[])', [
    actionIds,
  ]);
}

async function recordOutcomes(
  client: pg.Client,
  batch: {
    readonly planId: number;
    readonly outcomes: readonly AppliedOutcome[];
    readonly inodes: Parameters<typeof pgRecordInodeChanges>[2];
  },
): Promise<void> {
  if (batch.outcomes.length === 0 && batch.inodes.length === 0) return;
  const now = Date.now();
  const done: number[] = [];
  const statuses: { id: number; status: ActionStatus; error: string | null }[] = [];
  const links: Parameters<typeof pgRecordReplacements>[1][number][] = [];
  const clones: Parameters<typeof pgRecordClones>[1][number][] = [];
  for (const o of batch.outcomes) {
    const { action } = o;
    if (o.kind === 'failed') {
      statuses.push({ id: action.id, status: 'failed', error: o.error });
      if (o.journalClear) done.push(action.id);
      continue;
    }
    statuses.push({ id: action.id, status: 'executed', error: null });
    if (o.kind === 'cloned') {
      if (o.journalClear) done.push(action.id);
      clones.push({ deviceId: action.deviceId, targetPath: action.targetPath, st: o.clone });
    } else {
      done.push(action.id);
      links.push({
        deviceId: action.deviceId,
        targetPath: action.targetPath,
        sourceInode: action.sourceInode,
        st: o.source,
        targetFileId: action.targetFileId,
      });
    }
  }
  await pgUnitOfWork(client, async () => {
    await setOutcomes(client, statuses, now);
    await journalDone(client, done);
    await pgRecordClones(client, clones);
    await pgRecordReplacements(client, links);
    await pgRecordInodeChanges(client, batch.planId, batch.inodes);
  });
}

async function recordVerdicts(client: pg.Client, verdicts: readonly Verdict[]): Promise<void> {
  if (verdicts.length === 0) return;
  await pgUnitOfWork(client, () =>
    setOutcomes(
      client,
      verdicts.map((v) => ({ id: v.actionId, status: v.status, error: v.note })),
      Date.now(),
    ),
  );
}

async function recordRecovery(
  client: pg.Client,
  r: {
    readonly actionId: number;
    readonly planId: number;
    readonly decision: RecoveryDecision;
    readonly inodes: Parameters<typeof pgRecordInodeChanges>[2];
  },
): Promise<void> {
  await pgUnitOfWork(client, async () => {
    await pgRecordInodeChanges(client, r.planId, r.inodes);
    const d = r.decision;
    const now = Date.now();
    if (d.kind === 'forward') {
      const { action, target: st } = d;
      await setOutcomes(client, [{ id: action.id, status: 'executed', error: null }], now);
      if (d.replaced === 'clone')
        await pgRecordClones(client, [
          { deviceId: action.deviceId, targetPath: action.targetPath, st },
        ]);
      else
        await pgRecordReplacements(client, [
          {
            deviceId: action.deviceId,
            targetPath: action.targetPath,
            sourceInode: action.sourceInode,
            st: { nlink: Number(st.nlink), ctimeNs: st.ctimeNs, mtimeNs: st.mtimeNs },
            targetFileId: action.targetFileId,
          },
        ]);
    } else if (d.action && d.action.status !== 'executed') {
      await setOutcomes(client, [{ id: d.action.id, status: 'pending', error: null }], now);
    }
    await journalDone(client, [r.actionId]);
  });
}

/** Every open journal row with its action, its plan's mode and its clone inode, in one query. */
async function openEntries(client: pg.Client): Promise<OpenJournalEntry[]> {
  const r = await client.query<Record<string, unknown>>(
    `SELECT j.action_id AS j_action_id, j.plan_id AS j_plan_id, j.source_abs AS j_source_abs,
            j.target_abs AS j_target_abs, j.temp_abs AS j_temp_abs, j.temp_inode AS j_temp_inode,
            p.options AS p_options, a.id IS NOT NULL AS a_present, ${actionColumns('a')}
       FROM conductor_journal j
       LEFT JOIN conductor_actions a ON a.id = j.action_id
       LEFT JOIN conductor_plans p ON p.id = j.plan_id
      ORDER BY j.action_id`,
  );
  return r.rows.map((row) => {
    const options = row.p_options as string | null;
    const mode: ReplaceMode =
      options === null ? 'hardlink' : replaceMode({ options: JSON.parse(options) as PlanOptions });
    const inode = row.j_temp_inode as string | null;
    return {
      journal: {
        actionId: Number(row.j_action_id),
        planId: Number(row.j_plan_id),
        sourceAbs: row.j_source_abs as Buffer,
        targetAbs: row.j_target_abs as Buffer,
        tempAbs: row.j_temp_abs as Buffer,
      },
      action: row.a_present ? pgToAction(row) : undefined,
      mode,
      cloneInode: inode === null ? undefined : BigInt(inode),
    };
  });
}

/** `held`: the devices this connection's executor lock holds (its own plans are not spared). */
export function pgJournalOps(client: pg.Client, held: () => readonly number[]): JournalOps {
  return {
    intents: (batch) => journalIntents(client, batch),
    async cloneInode(r) {
      // One statement outside any transaction: committed when it returns, before the rename.
      await client.query('UPDATE conductor_journal SET temp_inode = $1 WHERE action_id = $2', [
        BigInt.asIntN(64, r.inode),
        r.actionId,
      ]);
    },
    outcomes: (batch) => recordOutcomes(client, batch),
    verdicts: (batch) => recordVerdicts(client, batch),
    open: () => openEntries(client),
    settle: (r) => recordRecovery(client, r),
    async closeInterrupted() {
      // Spared: plans named by a live lock of another connection (on PostgreSQL the catalog
      // can tell: the pid is not needed to tell our rows from theirs).
      await client.query(
        `UPDATE conductor_plans SET status = 'interrupted'
          WHERE status = 'executing'
            AND id NOT IN (SELECT k.plan_id FROM executor_device_lock k
                            WHERE k.plan_id IS NOT NULL AND NOT (k.device_id = ANY($2::int8[]))
                              AND ${LIVE_LOCK})`,
        [EXECUTOR_LOCK_SPACE, held()],
      );
    },
    async pending() {
      const r = await client.query<{ e: boolean; u: boolean; p: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM conductor_journal) AS e,
                EXISTS (SELECT 1 FROM conductor_undo_journal) AS u,
                EXISTS (SELECT 1 FROM conductor_plans WHERE undo_status = 'undoing') AS p`,
      );
      const row = r.rows[0]!;
      return { execute: row.e, undoJournal: row.u, undoPlans: row.p };
    },
  };
}
