/**
 * Undo's records on PostgreSQL: UndoRecords of the plan port (../plan-port.ts) with the
 * semantics of ../undo.ts, ../replacement.ts and ../clones.ts. A page of undoable actions comes
 * with the ctimes our own operations left on their kept inodes in one query; a settlement (the
 * action's outcome, the target's row, the kept inode's state, the journal row gone) is one
 * transaction.
 */
import type pg from 'pg';
import type { UndoRecords, UndoSettlement } from '../plan-port.js';
import { toUndo, type RawUndo, type UndoJournalRow } from '../undo.js';
import { baseName, parentOf } from '../../paths.js';
import { ACTION_SELECT, actionRows } from './actions.js';
import { exactRows, int8 } from './exact.js';
import { pgUnitOfWork } from './tx.js';

/** With the ctime our own operations left on the kept inode (one query for a page). */
type PgRawUndo = RawUndo & { own_ctime: bigint | null };

/** Executed HARDLINK actions not undone yet (as ../undo.ts's undoablePage). */
const UNDOABLE = `action_type = 'HARDLINK' AND status = 'executed'
                  AND (undo_status IS NULL OR undo_status != 'undone')`;

/** The target's row (by its path, as ../replacement.ts's fileIdByPath) takes the copy's stat. */
async function recordClone(
  client: pg.Client,
  s: Extract<UndoSettlement, { kind: 'restored' }>,
): Promise<void> {
  const a = s.action;
  const st = s.target;
  await client.query(
    `UPDATE files SET inode = $1, nlink = $2, size = $3, mtime_ns = $4, ctime_ns = $5,
                      mode = $6, uid = $7, gid = $8, blocks = $9
      WHERE id = (SELECT f.id FROM dirs d JOIN files f ON f.dir_id = d.id
                   WHERE d.device_id = $10 AND d.path = $11 AND f.name = $12)`,
    [
      int8(st.ino),
      st.nlink,
      st.size,
      st.mtimeNs,
      st.ctimeNs,
      st.mode,
      st.uid,
      st.gid,
      st.blocks,
      a.deviceId,
      Buffer.from(parentOf(a.targetPath)),
      Buffer.from(baseName(a.targetPath)),
    ],
  );
}

async function settle(client: pg.Client, s: UndoSettlement): Promise<void> {
  await pgUnitOfWork(client, async () => {
    if (s.kind === 'rolled-back') {
      await client.query('DELETE FROM conductor_undo_journal WHERE action_id = $1', [s.actionId]);
      return;
    }
    const a = s.action;
    if (s.kind === 'restored') {
      await client.query(
        `UPDATE conductor_actions SET undo_status = 'undone', undo_error = NULL WHERE id = $1`,
        [a.id],
      );
      await recordClone(client, s);
    }
    const kept = s.kept;
    if (kept) {
      // Our rename took a link from the kept inode: the plan's other paths expect that.
      await client.query(
        `INSERT INTO conductor_inode_state (plan_id, device_id, inode, ctime_ns, nlink)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (plan_id, device_id, inode)
           DO UPDATE SET ctime_ns = excluded.ctime_ns, nlink = excluded.nlink`,
        [a.planId, a.sourceDeviceId, a.sourceInode, kept.ctimeNs, kept.nlink],
      );
      if (s.kind === 'restored') {
        await client.query(
          `UPDATE files SET nlink = $1, ctime_ns = $2
            WHERE device_id = $3 AND inode = $4 AND status = 'active'`,
          [kept.nlink, kept.ctimeNs, a.sourceDeviceId, a.sourceInode],
        );
      }
    }
    await client.query('DELETE FROM conductor_undo_journal WHERE action_id = $1', [a.id]);
  });
}

interface RawJournal {
  action_id: bigint;
  plan_id: bigint;
  source_abs: Buffer;
  target_abs: Buffer;
  temp_abs: Buffer;
  temp_inode: bigint | null;
}

export function pgUndoRecords(client: pg.Client): UndoRecords {
  return {
    async page(q) {
      // Each action with the ctime on record for its kept inode (NULL: never changed by us).
      const rows = await exactRows<PgRawUndo>(
        client,
        `SELECT a.*, s.ctime_ns AS own_ctime
           FROM (${ACTION_SELECT}, orig_uid, orig_gid, orig_mode, orig_atime_ns, orig_mtime_ns
                   FROM conductor_actions
                  WHERE plan_id = $1 AND id > $2 AND ${UNDOABLE}
                  ORDER BY id LIMIT $3) a
           LEFT JOIN conductor_inode_state s
             ON s.plan_id = a.plan_id AND s.device_id = a.source_device_id AND s.inode = a.source_inode
          ORDER BY a.id`,
        [q.planId, q.afterId, q.limit],
      );
      const ownCtimes = new Map<string, bigint>();
      for (const r of rows) {
        if (r.own_ctime !== null)
          ownCtimes.set(`${r.source_device_id}:${r.source_inode}`, r.own_ctime);
      }
      return { actions: rows.map(toUndo), ownCtimes };
    },
    async needs(planId) {
      const rows = await exactRows<{ device_id: bigint; actions: bigint; bytes: string }>(
        client,
        `SELECT device_id, count(*) AS actions, coalesce(sum(size), 0) AS bytes
           FROM conductor_actions WHERE plan_id = $1 AND ${UNDOABLE}
          GROUP BY device_id ORDER BY device_id`,
        [planId],
      );
      return rows.map((r) => ({
        deviceId: Number(r.device_id),
        actions: Number(r.actions),
        bytes: Number(r.bytes),
      }));
    },
    async counts(planId) {
      const [r] = await exactRows<{ undone: bigint; remaining: bigint }>(
        client,
        `SELECT count(*) FILTER (WHERE undo_status = 'undone') AS undone,
                count(*) FILTER (WHERE undo_status IS DISTINCT FROM 'undone') AS remaining
           FROM conductor_actions
          WHERE plan_id = $1 AND action_type = 'HARDLINK' AND status = 'executed'`,
        [planId],
      );
      return { undone: Number(r!.undone), remaining: Number(r!.remaining) };
    },
    async setPlanStatus(planId, status) {
      await client.query('UPDATE conductor_plans SET undo_status = $1 WHERE id = $2', [
        status,
        planId,
      ]);
    },
    async setOutcome(p) {
      await client.query(
        'UPDATE conductor_actions SET undo_status = $1, undo_error = $2 WHERE id = $3',
        [p.status, p.why, p.actionId],
      );
    },
    // One statement: atomic by itself.
    async settleInterruptedPlans() {
      const rows = await exactRows<{ id: bigint }>(
        client,
        `UPDATE conductor_plans SET undo_status = 'partially-undone'
          WHERE undo_status = 'undoing' RETURNING id`,
      );
      return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    },
    async pending() {
      const [r] = await exactRows<{ pending: boolean }>(
        client,
        `SELECT EXISTS (SELECT 1 FROM conductor_undo_journal)
             OR EXISTS (SELECT 1 FROM conductor_plans WHERE undo_status = 'undoing') AS pending`,
      );
      return r!.pending;
    },
    journal: {
      // As SQLite's INSERT OR REPLACE: a new intent for an action replaces its row whole.
      async intent(j) {
        await client.query(
          `INSERT INTO conductor_undo_journal
             (action_id, plan_id, source_abs, target_abs, temp_abs, temp_inode, started_at)
           VALUES ($1, $2, $3, $4, $5, NULL, $6)
           ON CONFLICT (action_id) DO UPDATE SET
             plan_id = excluded.plan_id, source_abs = excluded.source_abs,
             target_abs = excluded.target_abs, temp_abs = excluded.temp_abs,
             temp_inode = NULL, started_at = excluded.started_at`,
          [j.actionId, j.planId, j.sourceAbs, j.targetAbs, j.tempAbs, Date.now()],
        );
      },
      async tempInode(actionId, inode) {
        await client.query(
          'UPDATE conductor_undo_journal SET temp_inode = $1 WHERE action_id = $2',
          [int8(inode), actionId],
        );
      },
      async drop(actionId) {
        await client.query('DELETE FROM conductor_undo_journal WHERE action_id = $1', [actionId]);
      },
      async open() {
        const rows = await exactRows<RawJournal>(
          client,
          'SELECT * FROM conductor_undo_journal ORDER BY action_id',
        );
        const journal: UndoJournalRow[] = rows.map((r) => ({
          actionId: Number(r.action_id),
          planId: Number(r.plan_id),
          sourceAbs: r.source_abs,
          targetAbs: r.target_abs,
          tempAbs: r.temp_abs,
          tempInode: r.temp_inode ?? undefined,
        }));
        const actions =
          journal.length === 0
            ? []
            : await actionRows(
                client,
                `${ACTION_SELECT} FROM conductor_actions WHERE id = ANY($1::int8[])`,
                [journal.map((j) => j.actionId)],
              );
        const byId = new Map(actions.map((a) => [a.id, a]));
        return journal.map((row) => ({ row, action: byId.get(row.actionId) }));
      },
    },
    settle: (s) => settle(client, s),
  };
}
