/**
 * The catalog decodes a plan's actions once (issue 13): the stored form is a HARDLINK row plus
 * the plan's mode, the executor sees HARDLINK, REFLINK, NOOP or SKIP. And a run's verdicts are
 * recorded as one batch. On a real catalog.
 */
import { replaceMode } from '../../src/catalog/action-decode.js';
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Member } from '../../src/catalog/groups.js';
import { openCatalog } from '../../src/catalog/open.js';
import { insertPlan, getPlan, type PlanOptions } from '../../src/catalog/plans.js';
import {
  ActionWriter,
  countActions,
  getAction,
  planActionPage,
} from '../../src/catalog/actions.js';
import { recordVerdicts } from '../../src/catalog/execution.js';
import { ownCtime, ownCtimes, propagateIdentity } from '../../src/catalog/replacement.js';
import type { ActionType } from '../../src/catalog/plan-types.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { memberFactory } from '../helpers/members.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

const make = memberFactory({ size: 10, uid: 0, gid: 0 });
const member = (n: number): Member => make(`/d/f${n}`, 100 + n, { fileId: n });

const OPTIONS: PlanOptions = {
  deviceId: 1,
  deviceAlias: 'a',
  sameDevice: true,
  crossDevice: false,
  keep: 'oldest',
};

function catalogWithPlans() {
  const d = tempDir();
  dirs.push(d);
  const { db } = openCatalog(join(d, 'c.db'));
  db.prepare(
    `INSERT INTO devices (id, identity, identity_stable, alias, fs_type, st_dev, mount_point, mount_root, first_seen_at, last_seen_at)
     VALUES (1, 'a', 1, 'a', 'tmpfs', 1, X'2f', X'2f', 0, 0)`,
  ).run();
  const types: ActionType[] = ['HARDLINK', 'NOOP', 'SKIP', 'HARDLINK'];
  const plans = {
    hardlink: insertPlan(db, 'h', OPTIONS),
    reflink: insertPlan(db, 'r', { ...OPTIONS, mode: 'reflink' }),
    older: insertPlan(db, 'o', OPTIONS), // made before reflink mode: no `mode` at all
  };
  for (const id of Object.values(plans)) {
    new ActionWriter(db, id).write(
      types.map((type, i) => ({
        groupNo: i,
        actions: [
          {
            type,
            source: member(0),
            target: member(i + 1),
            bytes: 10,
            ...(type === 'SKIP' ? { reason: 'owner differs' } : {}),
          },
        ],
      })),
    );
  }
  return { db, plans };
}

describe('planActionPage decodes actions with the plan mode', () => {
  it('HARDLINK rows of a reflink plan are REFLINK; SKIP carries its reason; the row is kept', () => {
    const { db, plans } = catalogWithPlans();
    try {
      const decode = (id: number) => {
        const plan = getPlan(db, id)!;
        return planActionPage(db, { id, mode: replaceMode(plan) }, 0, 100);
      };
      expect(decode(plans.reflink).map((a) => a.type)).toEqual([
        'REFLINK',
        'NOOP',
        'SKIP',
        'REFLINK',
      ]);
      for (const id of [plans.hardlink, plans.older]) {
        expect(decode(id).map((a) => a.type)).toEqual(['HARDLINK', 'NOOP', 'SKIP', 'HARDLINK']);
      }
      const skip = decode(plans.reflink)[2]!;
      expect(skip.type === 'SKIP' && skip.reason).toBe('owner differs');
      // The stored form is unchanged: a HARDLINK row, whatever the mode.
      expect(decode(plans.reflink).map((a) => a.row.type)).toEqual([
        'HARDLINK',
        'NOOP',
        'SKIP',
        'HARDLINK',
      ]);
      // Paging: after the first action's id, the next ones.
      const all = decode(plans.reflink);
      const rest = planActionPage(db, { id: plans.reflink, mode: 'reflink' }, all[0]!.row.id, 2);
      expect(rest.map((a) => a.row.id)).toEqual([all[1]!.row.id, all[2]!.row.id]);
    } finally {
      db.close();
    }
  });

  it('recordVerdicts records a batch of NOOP and failed outcomes with their notes', () => {
    const { db, plans } = catalogWithPlans();
    try {
      const actions = planActionPage(db, { id: plans.hardlink, mode: 'hardlink' }, 0, 100);
      recordVerdicts(db, [
        { actionId: actions[0]!.row.id, status: 'failed', note: 'stale: target was modified' },
        { actionId: actions[1]!.row.id, status: 'noop', note: null },
      ]);
      expect(countActions(db, plans.hardlink, 'failed')).toBe(1);
      expect(getAction(db, actions[0]!.row.id)).toMatchObject({
        status: 'failed',
        error: 'stale: target was modified',
      });
      expect(getAction(db, actions[1]!.row.id)?.status).toBe('noop');
      expect(getAction(db, actions[3]!.row.id)?.status).toBe('pending');
      expect(countActions(db, plans.reflink, 'failed')).toBe(0);
    } finally {
      db.close();
    }
  });

  it('ownCtimes reads a page of inodes at once and agrees with ownCtime, per plan', () => {
    const { db, plans } = catalogWithPlans();
    try {
      const big = -(2n ** 63n) + 5n; // inodes are stored as signed 64-bit
      propagateIdentity(db, plans.hardlink, 1, 101n, 7n, 2);
      propagateIdentity(db, plans.hardlink, 1, big, 9n, 1);
      propagateIdentity(db, plans.reflink, 1, 102n, 8n, 1);
      const asked = [101n, 102n, big, 103n].map((inode) => ({ deviceId: 1, inode }));
      const found = ownCtimes(db, plans.hardlink, asked);
      expect([...found.entries()].sort()).toEqual(
        [
          ['1:101', 7n],
          [`1:${big}`, 9n],
        ].sort(),
      );
      for (const { inode } of asked)
        expect(found.get(`1:${inode}`)).toBe(ownCtime(db, plans.hardlink, 1, inode));
      expect(ownCtimes(db, plans.hardlink, []).size).toBe(0);
    } finally {
      db.close();
    }
  });
});

describe('ActionWriter writes many actions per statement', () => {
  it('in the order given, across every statement size, each field as given', () => {
    const { db } = catalogWithPlans();
    try {
      const id = insertPlan(db, 'many', OPTIONS);
      // 1 + 2 + … + 12 = 78 actions: 64 + 4×3 + 1×2 rows per statement, groups split across them.
      const groups = Array.from({ length: 12 }, (_, g) => ({
        groupNo: g + 1,
        actions: Array.from({ length: g + 1 }, (_, i) => {
          const n = 1000 + g * 100 + i;
          const type: ActionType = i % 5 === 4 ? 'SKIP' : 'HARDLINK';
          return {
            type,
            source: member(g),
            target: make(`/d/t${n}`, n, { fileId: n, nlink: 1 + (i % 3) }),
            bytes: n,
            ...(i === 0 ? { keepRule: 'oldest' } : {}),
            ...(type === 'SKIP' ? { reason: `reason ${n}` } : {}),
          };
        }),
      }));
      new ActionWriter(db, id).write(groups);
      const rows = planActionPage(db, { id, mode: 'hardlink' }, 0, 1000).map((a) => a.row);
      const given = groups.flatMap((g) => g.actions.map((a) => ({ groupNo: g.groupNo, a })));
      expect(rows).toHaveLength(78);
      // Execution order is id order: the order the actions were given in.
      rows.forEach((r, i) => expect(r.id).toBe(rows[0]!.id + i));
      rows.forEach((r, i) => {
        const { groupNo, a } = given[i]!;
        expect(r).toMatchObject({
          planId: id,
          groupNo,
          type: a.type,
          sourcePath: a.source.path,
          targetPath: a.target.path,
          sourceInode: a.source.inode,
          targetInode: a.target.inode,
          targetNlink: a.target.nlink,
          bytes: a.bytes,
          keepRule: 'keepRule' in a ? a.keepRule : null,
          reason: a.type === 'SKIP' ? `reason ${a.bytes}` : null,
          status: a.type === 'SKIP' ? 'skipped' : 'pending',
          targetFileId: a.target.fileId,
        });
      });
    } finally {
      db.close();
    }
  });
});
