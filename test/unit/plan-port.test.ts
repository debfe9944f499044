/**
 * Planning, discard and undo through the catalog port (PlanCatalog), on both backends (SQLite,
 * and PostgreSQL in a throwaway cluster: test/helpers/plan-backends.ts, skipped with the reason
 * when PostgreSQL is not installed), over real trees in temp dirs scanned with runScan: what
 * `plan` stores, what show-plan and the plan list read back, that a failed unit of work leaves
 * nothing, and undo's records (its journal, recovery, the run loop) as the port keeps them.
 * The scanner and SQLite's execute run from dist/: build first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { openCatalog } from '../../src/catalog/open.js';
import { createPlan } from '../../src/conductor/plan.js';
import { resolveScope } from '../../src/conductor/scope.js';
import { discardPlan } from '../../src/conductor/discard.js';
import { Undoer } from '../../src/conductor/undo.js';
import { checkUndoSpace } from '../../src/conductor/undo-space.js';
import { recoverInterruptedUndo } from '../../src/conductor/undo-recovery.js';
import { UNDO_TEMP_PREFIX } from '../../src/conductor/undo-types.js';
import { UserError } from '../../src/errors.js';
import { isUnder } from '../../src/paths.js';
import { hashall } from '../helpers/cli.js';
import { memberFactory } from '../helpers/members.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { planBackends, type PlanOpened, type PlanTestCatalog } from '../helpers/plan-backends.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

const CONTENT = 'the same bytes in three places\n'.repeat(300);

describe.each(planBackends)('the plan port on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }
  beforeAll(() => backend.setup(), 120_000);
  afterAll(() => backend.teardown());

  const opened: PlanOpened[] = [];
  afterAll(async () => {
    for (const o of opened) await o.close();
  });

  /** A fresh catalog in a fresh temp dir. */
  async function fresh(): Promise<{ dir: string; cat: PlanOpened }> {
    const dir = realpathSync(tempDir());
    dirs.push(dir);
    const cat = await backend.open(dir);
    opened.push(cat);
    return { dir, cat };
  }

  /** A tree with three copies of one file and a unique one, scanned into a fresh catalog. */
  async function scanned(): Promise<{ tree: string; cat: PlanOpened; port: PlanTestCatalog }> {
    const { dir, cat } = await fresh();
    const tree = join(dir, 'tree');
    writeTree(tree, {
      'a/x': CONTENT,
      'b/x': CONTENT,
      'c/x': CONTENT,
      'd/unique': 'only once\n',
    });
    // One mtime for every copy: linking them changes no visible metadata.
    for (const d of ['a', 'b', 'c']) utimesSync(join(tree, d, 'x'), 1_600_000_000, 1_600_000_000);
    await cat.scan(tree);
    return { tree, cat, port: cat.port };
  }

  describe('planning through the port', () => {
    let t: Awaited<ReturnType<typeof scanned>>;
    let port: PlanTestCatalog;
    beforeAll(async () => {
      t = await scanned();
      port = t.port;
    });

    it('stores a plan whose actions, counts and totals read back through the port', async () => {
      const { plan, counts } = await createPlan(port, {
        name: 'all',
        sameDevice: true,
        crossDevice: false,
      });
      expect(plan).toMatchObject({ name: 'all', status: 'pending', opportunities: 2 });
      expect(plan.bytesSaveable).toBe(2 * CONTENT.length);
      expect(await port.plans.get(plan.id)).toEqual(plan);
      expect((await port.plans.list()).map((p) => p.id)).toContain(plan.id);
      expect(counts).toEqual([
        { type: 'HARDLINK', status: 'pending', reason: null, n: 2, bytes: 2 * CONTENT.length },
      ]);
      // Paged in execution order: both pages together are the plan, each action once.
      const first = await port.planActions.page({
        planId: plan.id,
        afterId: 0,
        limit: 1,
        types: ['HARDLINK', 'NOOP', 'SKIP'],
      });
      const rest = await port.planActions.page({
        planId: plan.id,
        afterId: first[0]!.id,
        limit: 10,
        types: ['HARDLINK', 'NOOP', 'SKIP'],
      });
      expect(first).toHaveLength(1);
      expect(rest).toHaveLength(1);
      const targets = [...first, ...rest].map((a) => a.targetPath.toString()).sort();
      const kept = new Set([...first, ...rest].map((a) => a.sourcePath.toString()));
      expect(kept.size).toBe(1);
      // The kept copy is never a target; the other two are.
      expect(targets).toHaveLength(2);
      expect(targets).not.toContain([...kept][0]);
      expect(await port.planActions.top(plan.id, -1)).toHaveLength(2);
      expect(await port.plans.scope(plan.id)).toEqual([]);
      expect(await port.plans.metadataChanges(plan.id)).toBe(0);
    });

    it('a scoped plan stores its scope and plans only inside it', async () => {
      const scope = await resolveScope(port, [
        Buffer.from(join(t.tree, 'b')),
        Buffer.from(join(t.tree, 'c')),
      ]);
      const { plan } = await createPlan(port, {
        name: 'b and c',
        sameDevice: true,
        crossDevice: false,
        scope,
      });
      const stored = await port.plans.scope(plan.id);
      expect(stored.map((s) => s.path.toString())).toEqual([join(t.tree, 'b'), join(t.tree, 'c')]);
      expect((await port.plans.scopes([plan.id])).get(plan.id)).toEqual(stored);
      const actions = await port.planActions.top(plan.id, -1);
      expect(actions).toHaveLength(1);
      for (const a of actions) {
        expect(a.sourcePath.toString()).not.toContain('/a/');
        expect(a.targetPath.toString()).not.toContain('/a/');
      }
    });

    it('a unit of work that fails leaves no plan behind', async () => {
      const before = await port.plans.list();
      await expect(
        port.unitOfWork(async () => {
          const id = await port.plans.create({
            name: 'doomed',
            options: {
              deviceId: null,
              deviceAlias: null,
              sameDevice: true,
              crossDevice: false,
              keep: 'most-linked',
            },
            scope: [],
          });
          expect(await port.plans.get(id)).toBeDefined();
          throw new Error('planning failed half-way');
        }),
      ).rejects.toThrow('planning failed half-way');
      expect(await port.plans.list()).toEqual(before);
    });

    it('discards only a pending plan, saying why otherwise', async () => {
      const { plan } = await createPlan(port, {
        name: 'gone',
        sameDevice: true,
        crossDevice: false,
      });
      expect(await discardPlan(port, plan.id)).toEqual({ actions: 2 });
      expect(await port.plans.get(plan.id)).toBeUndefined();
      expect(await port.plans.discardPending(plan.id)).toEqual({ kind: 'missing' });
      const { plan: ran } = await createPlan(port, {
        name: 'ran',
        sameDevice: true,
        crossDevice: false,
      });
      await port.plans.setStatus({ id: ran.id, status: 'executed', executedAt: 1 });
      expect(await port.plans.discardPending(ran.id)).toEqual({
        kind: 'refused',
        status: 'executed',
      });
      await expect(discardPlan(port, ran.id)).rejects.toThrow(UserError);
      expect(await port.plans.get(ran.id)).toMatchObject({ status: 'executed', executedAt: 1 });
    });
  });

  describe('the listing show-plan reads', () => {
    it('pages through every action; a limited listing is the start of the full one', async () => {
      const { dir, cat } = await fresh();
      const tree = join(dir, 'tree');
      const files: Record<string, string> = { 'n/linked': 'already one inode\n' };
      // Groups of several sizes, so that bytes order the listing, and copies by the dozen.
      for (let g = 0; g < 6; g++)
        for (let c = 0; c < 2 + (g % 3); c++)
          files[`g${g}/c${c}`] = `group ${g}\n`.repeat(50 * (g + 1));
      writeTree(tree, files);
      linkSync(join(tree, 'n/linked'), join(tree, 'n/again'));
      await cat.scan(tree);
      const port = cat.port;
      const { plan } = await createPlan(port, { name: 'p', sameDevice: true, crossDevice: false });
      const all = await port.planActions.top(plan.id, -1);
      expect(new Set(all.map((a) => a.type))).toEqual(new Set(['HARDLINK', 'NOOP']));
      expect(all.length).toBeGreaterThan(10);
      // HARDLINK by bytes (largest first), then NOOP.
      const firstNoop = all.findIndex((a) => a.type === 'NOOP');
      expect(all.slice(firstNoop).every((a) => a.type === 'NOOP')).toBe(true);
      const bytes = all.slice(0, firstNoop).map((a) => a.bytes);
      expect(bytes).toEqual([...bytes].sort((x, y) => y - x));
      expect((await port.planActions.top(plan.id, 5)).map((a) => a.id)).toEqual(
        all.slice(0, 5).map((a) => a.id),
      );
      // Execution order: by id, page after page, each action once; the types asked for only.
      const paged: number[] = [];
      for (let after = 0; ;) {
        const page = await port.planActions.page({
          planId: plan.id,
          afterId: after,
          limit: 4,
          types: ['HARDLINK', 'NOOP', 'SKIP'],
        });
        if (page.length === 0) break;
        paged.push(...page.map((a) => a.id));
        after = page[page.length - 1]!.id;
      }
      expect(paged).toEqual(all.map((a) => a.id).sort((x, y) => x - y));
      const noops = await port.planActions.page({
        planId: plan.id,
        afterId: 0,
        limit: 100,
        types: ['NOOP'],
      });
      expect(noops.map((a) => a.id)).toEqual(
        all
          .filter((a) => a.type === 'NOOP')
          .map((a) => a.id)
          .sort((x, y) => x - y),
      );
      // Group by group: ids follow the group numbers.
      const byId = [...all].sort((x, y) => x.id - y.id).map((a) => a.groupNo);
      expect(byId).toEqual([...byId].sort((x, y) => x - y));
    });
  });

  describe('scopes by bytes', () => {
    it('a scope is a directory and what is below it: never a sibling sharing its prefix', async () => {
      const { dir, cat } = await fresh();
      const tree = join(dir, 'tree');
      const copy = 'one content everywhere\n'.repeat(40);
      // Siblings of b that a prefix or a LIKE pattern would take for it, and odd bytes below it.
      const names = ['b', 'b_', 'b%', 'b0', 'b.x', 'b-c', 'bc'];
      for (const n of names) writeTree(tree, { [`${n}/f`]: copy });
      const odd = Buffer.concat([Buffer.from(join(tree, 'b') + '/'), Buffer.from([0xe9, 0x0a])]);
      mkdirSync(odd);
      writeFileSync(Buffer.concat([odd, Buffer.from('/f')]), copy);
      const high = Buffer.concat([Buffer.from(join(tree, 'b')), Buffer.from([0xff])]);
      mkdirSync(high);
      writeFileSync(Buffer.concat([high, Buffer.from('/f')]), copy);
      await cat.scan(tree);
      const port = cat.port;
      const scope = await resolveScope(port, [Buffer.from(join(tree, 'b'))]);
      const { plan } = await createPlan(port, {
        name: 'b only',
        sameDevice: true,
        crossDevice: false,
        scope,
      });
      const actions = await port.planActions.top(plan.id, -1);
      const touched = new Set(
        actions.flatMap((a) => [a.sourcePath.toString('hex'), a.targetPath.toString('hex')]),
      );
      const below = (p: Buffer) => p.toString('latin1').replace(/^.*\/tree\//, '');
      expect([...touched].map((h) => below(Buffer.from(h, 'hex'))).sort()).toEqual(
        ['b/f', 'b/\xe9\n/f'].sort(),
      );
      expect(actions.filter((a) => a.type === 'HARDLINK')).toHaveLength(1);
      expect(await port.plans.scope(plan.id)).toEqual(
        scope.entries.map((e) => ({ deviceId: e.deviceId, fsPath: e.fsPath, path: e.path })),
      );

      // What restrictTo selects, against a model over every catalogued directory of the tree.
      const top = (await resolveScope(port, [Buffer.from(tree)])).entries[0]!;
      const fs = (rel: Buffer) => Buffer.concat([top.fsPath, Buffer.from('/'), rel]);
      const all = [
        top.fsPath,
        ...names.map((n) => fs(Buffer.from(n))),
        fs(Buffer.concat([Buffer.from('b/'), Buffer.from([0xe9, 0x0a])])),
        fs(Buffer.from([0x62, 0xff])),
      ];
      const sorted = (l: Buffer[]) => l.map((b) => b.toString('hex')).sort();
      for (const rels of [['b'], ['b_'], ['b0', 'b%'], ['b.x', 'b'], ['']]) {
        const chosen = rels.map((r) => (r === '' ? top.fsPath : fs(Buffer.from(r))));
        await port.planning.restrictTo(
          chosen.map((fsPath) => ({ deviceId: top.deviceId, fsPath })),
        );
        const got = await cat.scopeDirs();
        expect(got.every((d) => d.deviceId === top.deviceId)).toBe(true);
        expect(sorted(got.map((d) => d.path))).toEqual(
          sorted(all.filter((p) => chosen.some((c) => isUnder(p, c)))),
        );
      }
      await port.planning.restrictTo([]);
      expect(await cat.scopeDirs()).toEqual([]);
    });
  });

  describe('exact values and atomic batches', () => {
    it('stores 64-bit inodes, nanosecond times and path bytes exactly', async () => {
      const t = await scanned();
      const port = t.port;
      const [device] = await port.planDevices.list();
      const make = memberFactory({ deviceId: device!.id });
      const low = -(2n ** 63n) + 5n; // inodes are stored as signed 64-bit
      const high = 2n ** 63n - 1n;
      const ns = 1_700_000_000_123_456_789n; // beyond a double's 53 bits
      const source = make('/odd/\xff\n name', 0, { inode: low, mtimeNs: ns, ctimeNs: ns + 1n });
      const target = make('/odd/other', 0, {
        inode: high,
        mtimeNs: ns + 2n,
        ctimeNs: ns + 3n,
        nlink: 3,
        path: Buffer.from([0x2f, 0xc3, 0x28, 0x0a, 0x00 + 0x41]),
      });
      const id = await port.plans.create({
        name: 'exact',
        options: {
          deviceId: null,
          deviceAlias: null,
          sameDevice: true,
          crossDevice: false,
          keep: 'most-linked',
        },
        scope: [],
      });
      await port.planActions.write(id, [
        { groupNo: 1, actions: [{ type: 'HARDLINK', source, target, bytes: 100, keepRule: 'r' }] },
      ]);
      const [a] = await port.planActions.page({
        planId: id,
        afterId: 0,
        limit: 10,
        types: ['HARDLINK'],
      });
      expect(a).toMatchObject({
        planId: id,
        groupNo: 1,
        type: 'HARDLINK',
        deviceId: device!.id,
        sourcePath: source.path,
        targetPath: target.path,
        sourceInode: low,
        targetInode: high,
        sourceMtimeNs: ns,
        sourceCtimeNs: ns + 1n,
        targetMtimeNs: ns + 2n,
        targetCtimeNs: ns + 3n,
        targetNlink: 3,
        bytes: 100,
        keepRule: 'r',
        reason: null,
        status: 'pending',
        targetFileId: target.fileId,
      });
      expect(await port.planActions.top(id, 1)).toEqual([a]);
      expect(await port.plans.metadataChanges(id)).toBe(1);
      // The undo journal keeps an inode above 2^63 as SQLite does: as its signed 64 bits.
      await port.undo.journal.intent({
        actionId: a!.id,
        planId: id,
        sourceAbs: source.path,
        targetAbs: target.path,
        tempAbs: Buffer.from('/odd/temp'),
      });
      await port.undo.journal.tempInode(a!.id, 2n ** 64n - 3n);
      const [open] = await port.undo.journal.open();
      expect(open!.row).toEqual({
        actionId: a!.id,
        planId: id,
        sourceAbs: source.path,
        targetAbs: target.path,
        tempAbs: Buffer.from('/odd/temp'),
        tempInode: -3n,
      });
      expect(open!.action).toEqual(a);
      // A new intent replaces the row whole (its temp inode gone).
      await port.undo.journal.intent({
        actionId: a!.id,
        planId: id,
        sourceAbs: source.path,
        targetAbs: target.path,
        tempAbs: Buffer.from('/odd/temp2'),
      });
      expect(
        (await port.undo.journal.open()).map((j) => [j.row.tempAbs.toString(), j.row.tempInode]),
      ).toEqual([['/odd/temp2', undefined]]);
      await port.undo.journal.drop(a!.id);
      expect(await port.undo.journal.open()).toEqual([]);
    });

    it('a batch of actions is written whole or not at all', async () => {
      const t = await scanned();
      const port = t.port;
      const [device] = await port.planDevices.list();
      const make = memberFactory({ deviceId: device!.id });
      const ok = {
        type: 'HARDLINK' as const,
        source: make('/s', 1),
        target: make('/t', 2),
        bytes: 1,
      };
      // No such device: the catalog refuses the row (a foreign key), and with it the batch.
      const bad = { ...ok, target: make('/u', 3, { deviceId: 999_999 }) };
      const id = await port.plans.create({
        name: 'batch',
        options: {
          deviceId: null,
          deviceAlias: null,
          sameDevice: true,
          crossDevice: false,
          keep: 'most-linked',
        },
        scope: [],
      });
      await expect(
        port.planActions.write(id, [
          { groupNo: 1, actions: [ok, ok] },
          { groupNo: 2, actions: [bad] },
        ]),
      ).rejects.toThrow();
      expect(await port.planActions.counts(id)).toEqual([]);
      await port.planActions.write(id, [{ groupNo: 1, actions: [ok] }]);
      expect(await port.planActions.counts(id)).toEqual([
        { type: 'HARDLINK', status: 'pending', reason: null, n: 1, bytes: 1 },
      ]);
    });
  });

  describe('undo records through the port', () => {
    it('an executed plan is undone: records, space, and every path its own copy again', async () => {
      const t = await scanned();
      const port = t.port;
      {
        const { plan } = await createPlan(port, {
          name: 'u',
          sameDevice: true,
          crossDevice: false,
        });
        await t.cat.execute(plan.id);
        const inodes = new Set(['a', 'b', 'c'].map((d) => lstatSync(join(t.tree, d, 'x')).ino));
        expect(inodes.size).toBe(1);

        expect(await port.undo.needs(plan.id)).toEqual([
          { deviceId: expect.any(Number) as number, actions: 2, bytes: 2 * CONTENT.length },
        ]);
        const space = await checkUndoSpace(port, plan.id);
        expect(space).toHaveLength(1);
        expect(space[0]!.paths).toBe(2);
        expect(space[0]!.needed).toBeGreaterThanOrEqual(2 * CONTENT.length);
        const page = await port.undo.page({ planId: plan.id, afterId: 0, limit: 10 });
        expect(page.actions).toHaveLength(2);
        // Execute recorded the kept inode's ctime after its links: the page carries it.
        const keptKey = `${page.actions[0]!.action.sourceDeviceId}:${page.actions[0]!.action.sourceInode}`;
        expect(page.ownCtimes.get(keptKey)).toBeDefined();
        expect(await port.undo.counts(plan.id)).toEqual({ undone: 0, remaining: 2 });

        const executed = await port.plans.get(plan.id);
        const summary = await new Undoer(port, executed!, {
          dryRun: false,
          shouldStop: () => false,
        }).run();
        expect(summary).toMatchObject({ restored: 2, left: 0, failed: 0, status: 'undone' });
        expect(await port.undo.counts(plan.id)).toEqual({ undone: 2, remaining: 0 });
        expect((await port.undo.page({ planId: plan.id, afterId: 0, limit: 10 })).actions).toEqual(
          [],
        );
        expect((await port.plans.get(plan.id))!.status).toBe('undone');
        expect(await port.undo.journal.open()).toEqual([]);
        const after = ['a', 'b', 'c'].map((d) => lstatSync(join(t.tree, d, 'x')));
        expect(new Set(after.map((s) => s.ino)).size).toBe(3);
        for (const d of ['a', 'b', 'c'])
          expect(readFileSync(join(t.tree, d, 'x'), 'utf8')).toBe(CONTENT);
        // The settlements left the catalog as the tree is: a rescan finds nothing changed.
        const rescan = await t.cat.scan(t.tree);
        expect(rescan).toMatchObject({ changed: 0, new: 0, deleted: 0 });
      }
    });

    it('recovery rolls back a journaled undo whose copy never replaced the target', async () => {
      const t = await scanned();
      const port = t.port;
      {
        const { plan } = await createPlan(port, {
          name: 'r',
          sameDevice: true,
          crossDevice: false,
        });
        const [a] = await port.planActions.top(plan.id, 1);
        // As a killed undo leaves it: the copy made, its inode journaled, the rename not done.
        const target = join(t.tree, a!.targetPath.toString().replace(/^.*\/tree\//, ''));
        const temp = join(t.tree, 'b', `${UNDO_TEMP_PREFIX}${plan.id}-${a!.id}-0000`);
        writeFileSync(temp, CONTENT);
        await port.undo.journal.intent({
          actionId: a!.id,
          planId: plan.id,
          sourceAbs: Buffer.from(join(t.tree, 'a', 'x')),
          targetAbs: Buffer.from(target),
          tempAbs: Buffer.from(temp),
        });
        await port.undo.journal.tempInode(a!.id, BigInt(lstatSync(temp).ino));
        await port.undo.setPlanStatus(plan.id, 'undoing');
        expect(await port.undo.pending()).toBe(true);
        const journal = await port.undo.journal.open();
        expect(journal).toHaveLength(1);
        expect(journal[0]!.action?.id).toBe(a!.id);

        const rep = await recoverInterruptedUndo(port);
        expect(rep).toEqual({ rolledForward: 0, rolledBack: 1, copiesRemoved: 1, problems: [] });
        expect(() => lstatSync(temp)).toThrow(/ENOENT/);
        expect(readFileSync(target, 'utf8')).toBe(CONTENT);
        expect(await port.undo.journal.open()).toEqual([]);
        expect(await port.undo.pending()).toBe(false);
        expect((await port.plans.get(plan.id))!.status).toBe('partially-undone');
      }
    });

    it('a left or failed path is recorded with its reason', async () => {
      const t = await scanned();
      const port = t.port;
      {
        const { plan } = await createPlan(port, {
          name: 'o',
          sameDevice: true,
          crossDevice: false,
        });
        const [a] = await port.planActions.top(plan.id, 1);
        await port.undo.setOutcome({
          actionId: a!.id,
          status: 'left',
          why: 'changed since execute',
        });
        const [row] = await port.planActions.page({
          planId: plan.id,
          afterId: a!.id - 1,
          limit: 1,
          types: ['HARDLINK'],
        });
        expect(row!.id).toBe(a!.id);
        expect(row!.undoStatus).toBe('left');
        const shown = await port.planActions.top(plan.id, -1);
        expect(shown.find((x) => x.id === a!.id)!.undoStatus).toBe('left');
      }
    });
  });
});

// The CLI runs on SQLite (the PostgreSQL catalog is not wired to the CLI yet).
describe('show-plan --limit 0', () => {
  it('pages through every action and lists them in the order of a limited listing', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const tree = join(dir, 'tree');
    const files: Record<string, string> = { 'n/linked': 'already one inode\n' };
    // Groups of several sizes, so that bytes order the listing, and copies by the dozen.
    for (let g = 0; g < 6; g++)
      for (let c = 0; c < 2 + (g % 3); c++)
        files[`g${g}/c${c}`] = `group ${g}\n`.repeat(50 * (g + 1));
    writeTree(tree, files);
    linkSync(join(tree, 'n/linked'), join(tree, 'n/again'));
    const path = join(dir, 'catalog.db');
    expect(hashall(['scan', tree, '--catalog', path, '-q']).code).toBe(0);
    const r = hashall(['conductor', 'plan', 'p', '--catalog', path, '--json']);
    expect(r.code).toBe(0);
    const id = (JSON.parse(r.stdout) as { id: number }).id;
    const catalog = openCatalog(path);
    try {
      const shown = hashall([
        'conductor',
        'show-plan',
        String(id),
        '--limit',
        '0',
        '--json',
        '--catalog',
        path,
      ]);
      const listed = (JSON.parse(shown.stdout) as { actions: { id: number; type: string }[] })
        .actions;
      const top = await catalog.planActions.top(id, -1);
      expect(listed.map((a) => a.id)).toEqual(top.map((a) => a.id));
      expect(new Set(listed.map((a) => a.type))).toEqual(new Set(['HARDLINK', 'NOOP']));
      expect(listed.length).toBeGreaterThan(10);
    } finally {
      catalog.db.close();
    }
  });
});
