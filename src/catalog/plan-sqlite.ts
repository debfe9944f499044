/**
 * PlanCatalog over an SQLite connection (plan-port.ts describes the operations). Each operation
 * runs synchronously and answers with a resolved promise; writes that must be atomic run in one
 * transaction here, or join the caller's unit of work.
 */
import type { DB } from './db.js';
import { findDeviceByAlias, getDeviceByIdentity, listDevices } from './devices.js';
import {
  contentMembers,
  crossGroupPage,
  inodeMembers,
  linkOnlyPage,
  prepareCrossDeviceGroups,
  prepareLinkOnlyInodes,
  prepareSameDeviceGroups,
  sameGroupPage,
  type Member,
} from './groups.js';
import { pendingCandidates } from './hashing.js';
import {
  finalizePlanTotals,
  getPlan,
  insertPlan,
  listPlans,
  setPlanStatus,
  setReflinkOptions,
} from './plans.js';
import { ActionWriter, actionCounts, actionPage, topActions } from './actions.js';
import { readLock } from './executor-lock.js';
import { ownCtimes, propagateIdentity, recordInodeMeta } from './replacement.js';
import { recordClone } from './clones.js';
import { isCataloguedDir, planScope, prepareScopeDirs, storePlanScope } from './scope.js';
import { planMetadataChangeCount } from './metadata-changes.js';
import {
  deletePendingPlan,
  getUndoAction,
  interruptedUndoPlans,
  openUndoJournal,
  setPlanUndoStatus,
  setUndoOutcome,
  undoCounts,
  undoJournalDone,
  undoJournalIntent,
  undoJournalTempInode,
  undoNeeds,
  undoablePage,
} from './undo.js';
import { sameGroupMembers } from './group-member-page.js';
import type { GroupKind, GroupPage, PlanCatalog, SizeRange, UndoSettlement } from './plan-port.js';

/** fn in one immediate transaction, or in the caller's open unit of work. */
function atomically<T>(db: DB, fn: () => T): T {
  return db.inTransaction ? fn() : db.transaction(fn).immediate();
}

const sizeIn = (r: SizeRange, size: number) =>
  (r.min === undefined || size >= r.min) && (r.max === undefined || size <= r.max);

/** A page of a prepared group selection, with every group's members read. */
function groupPage(
  db: DB,
  q: { kind: GroupKind; after: number; limit: number; sizes: SizeRange },
): GroupPage {
  const groups: Member[][] = [];
  let last: number | undefined;
  let n = 0;
  switch (q.kind) {
    case 'same-device': {
      const page = sameGroupPage(db, q.after, q.limit);
      n = page.length;
      last = page[n - 1]?.rowId;
      if (last === undefined) break;
      // Every group's members in one statement (group-member-page.ts), in the same order.
      const members = sameGroupMembers(db, q.after, last);
      for (const g of page) if (sizeIn(q.sizes, g.size)) groups.push(members.get(g.rowId) ?? []);
      break;
    }
    case 'link-only': {
      const page = linkOnlyPage(db, q.after, q.limit);
      n = page.length;
      last = page[n - 1]?.rowId;
      for (const ino of page) {
        const members = inodeMembers(db, ino.deviceId, ino.inode);
        if (!members[0] || sizeIn(q.sizes, members[0].size)) groups.push(members);
      }
      break;
    }
    case 'cross-device': {
      const page = crossGroupPage(db, q.after, q.limit);
      n = page.length;
      last = page[n - 1]?.rowId;
      for (const g of page)
        if (sizeIn(q.sizes, g.size)) groups.push(contentMembers(db, g.sha256, g.size));
      break;
    }
  }
  return { groups, next: n === 0 ? undefined : last };
}

function settle(db: DB, s: UndoSettlement): void {
  atomically(db, () => {
    if (s.kind === 'rolled-back') {
      undoJournalDone(db, s.actionId);
      return;
    }
    const a = s.action;
    if (s.kind === 'restored') {
      setUndoOutcome(db, a.id, 'undone', null);
      recordClone(db, a.deviceId, a.targetPath, s.target);
    }
    const kept = s.kept;
    if (kept) {
      // Our rename took a link from the kept inode: the plan's other paths expect that.
      propagateIdentity(db, a.planId, a.sourceDeviceId, a.sourceInode, kept.ctimeNs, kept.nlink);
      if (s.kind === 'restored') recordInodeMeta(db, a.sourceDeviceId, a.sourceInode, kept);
    }
    undoJournalDone(db, a.id);
  });
}

export function planSqlite(db: DB): PlanCatalog {
  const ok = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
  return {
    plans: {
      create: (p) =>
        ok(() =>
          atomically(db, () => {
            const id = insertPlan(db, p.name, p.options);
            storePlanScope(db, id, p.scope);
            return id;
          }),
        ),
      get: (id) => ok(() => getPlan(db, id)),
      list: () => ok(() => listPlans(db)),
      setStatus: (p) => ok(() => setPlanStatus(db, p.id, p.status, p.executedAt)),
      finalize: (id) => ok(() => finalizePlanTotals(db, id, pendingCandidates(db))),
      setReflinkOptions: (id, unsupported) => ok(() => setReflinkOptions(db, id, unsupported)),
      scope: (id) => ok(() => planScope(db, id)),
      scopes: (ids) => ok(() => new Map(ids.map((id) => [id, planScope(db, id)]))),
      metadataChanges: (id) => ok(() => planMetadataChangeCount(db, id)),
      lockHolder: () => ok(() => readLock(db)),
      discardPending: (id) => ok(() => deletePendingPlan(db, id)),
    },
    planActions: {
      write: (planId, groups) =>
        ok(() => atomically(db, () => new ActionWriter(db, planId).write(groups))),
      counts: (planId) => ok(() => actionCounts(db, planId)),
      top: (planId, limit) => ok(() => topActions(db, planId, limit)),
      page: (q) => ok(() => actionPage(db, q.planId, q.afterId, q.limit, q.types)),
    },
    planning: {
      restrictTo: (dirs) =>
        ok(() => {
          prepareScopeDirs(db, dirs);
        }),
      select: (sel) =>
        ok(() => {
          if (sel.kind === 'same-device') prepareSameDeviceGroups(db, sel.deviceId, sel.scoped);
          else if (sel.kind === 'link-only') prepareLinkOnlyInodes(db, sel.deviceId, sel.scoped);
          else prepareCrossDeviceGroups(db, sel.deviceId, sel.scoped);
        }),
      page: (q) => ok(() => groupPage(db, q)),
    },
    planDevices: {
      list: () => ok(() => listDevices(db)),
      byAlias: (alias) => ok(() => findDeviceByAlias(db, alias)),
      byIdentity: (identity) => ok(() => getDeviceByIdentity(db, identity)),
      isCataloguedDir: (d) => ok(() => isCataloguedDir(db, d.deviceId, d.fsPath)),
    },
    undo: {
      page: (q) =>
        ok(() => {
          const actions = undoablePage(db, q.planId, q.afterId, q.limit);
          const kept = actions.map((u) => ({
            deviceId: u.action.sourceDeviceId,
            inode: u.action.sourceInode,
          }));
          return { actions, ownCtimes: ownCtimes(db, q.planId, kept) };
        }),
      needs: (planId) => ok(() => undoNeeds(db, planId)),
      counts: (planId) => ok(() => undoCounts(db, planId)),
      setPlanStatus: (planId, status) => ok(() => setPlanUndoStatus(db, planId, status)),
      setOutcome: (p) => ok(() => setUndoOutcome(db, p.actionId, p.status, p.why)),
      settleInterruptedPlans: () =>
        ok(() =>
          atomically(db, () => {
            const ids = interruptedUndoPlans(db);
            for (const id of ids) setPlanUndoStatus(db, id, 'partially-undone');
            return ids;
          }),
        ),
      pending: () =>
        ok(() => openUndoJournal(db).length > 0 || interruptedUndoPlans(db).length > 0),
      journal: {
        intent: (j) => ok(() => atomically(db, () => undoJournalIntent(db, j))),
        tempInode: (actionId, inode) => ok(() => undoJournalTempInode(db, actionId, inode)),
        drop: (actionId) => ok(() => undoJournalDone(db, actionId)),
        open: () =>
          ok(() =>
            openUndoJournal(db).map((row) => ({
              row,
              action: getUndoAction(db, row.actionId)?.action,
            })),
          ),
      },
      settle: (s) => ok(() => settle(db, s)),
    },
  };
}
