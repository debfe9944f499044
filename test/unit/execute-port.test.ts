/**
 * The executor's catalog port (src/catalog/execute-port.ts) on both backends — SQLite in a temp
 * directory and PostgreSQL in a throwaway cluster (test/helpers/execute-backends.ts; skipped
 * with the reason when PostgreSQL is not installed): a real tree scanned and planned by the
 * CLI, then the lock per device, the journal (intents, clone inodes, outcomes, verdicts),
 * recovery's records and the execution concern driven through the port alone;
 * conductor/recovery.ts recovering real files through it, and the Executor's order (intents
 * committed before a file is touched, outcomes after) seen through it.
 */
import { existsSync, linkSync, lstatSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ExecuteCatalog, LockHolder, PlanRef } from '../../src/catalog/execute-port.js';
import type { ActionRow } from '../../src/catalog/actions.js';
import { EXECUTOR_LOCK_SPACE } from '../../src/catalog/pg/executor-lock.js';
import { recoverInterrupted } from '../../src/conductor/recovery.js';
import { Executor, type ExecutorCatalog } from '../../src/conductor/execute/index.js';
import { hashall } from '../helpers/cli.js';
import { pgExecBackend, sqliteExecBackend, type ExecOpened } from '../helpers/execute-backends.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

describe.each([sqliteExecBackend, pgExecBackend])('the execute port on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }

  let dir: string;
  let tree: string;
  /** A scanned and planned catalog (SQLite, made by the CLI), copied fresh for each test. */
  let template: string;
  let planId: number;
  let opened: ExecOpened;
  let cat: ExecuteCatalog;

  beforeAll(async () => {
    await backend.setup();
    dir = tempDir();
    tree = join(dir, 't');
    const files: Record<string, Buffer> = {};
    for (let g = 0; g < 3; g++) {
      const content = Buffer.from(`group ${g} `.repeat(500));
      files[`a/g${g}.bin`] = content;
      files[`b/g${g}.bin`] = content;
    }
    writeTree(tree, files);
    template = join(dir, 'template.db');
    expect(hashall(['scan', tree, '--catalog', template, '-q']).code).toBe(0);
    const plan = hashall(['conductor', 'plan', 'port', '--catalog', template, '--json']);
    expect(plan.code).toBe(0);
    planId = plan.json<{ id: number }>().id;
  }, 120_000);

  afterAll(() => {
    backend.teardown();
    removeTree(dir);
  });

  beforeEach(async () => {
    opened = await backend.open(template, dir);
    cat = opened.cat;
  });

  afterEach(() => opened.close());

  const plan = (): PlanRef => ({ id: planId, mode: 'hardlink' });

  async function replacements(): Promise<ActionRow[]> {
    const page = await cat.execution.actionPage({ plan: plan(), after: 0, limit: 100 });
    return page.filter((a) => a.type === 'HARDLINK').map((a) => a.row);
  }

  /** A catalogued path on disk: the tree's `a/…` or `b/…` (paths are kept from the mount's root). */
  function abs(fsPath: Buffer): string {
    return join(tree, ...fsPath.toString().split('/').slice(-2));
  }

  function intent(a: ActionRow) {
    return {
      journal: {
        actionId: a.id,
        planId: a.planId,
        sourceAbs: Buffer.from(abs(a.sourcePath)),
        targetAbs: Buffer.from(abs(a.targetPath)),
        tempAbs: Buffer.from(join(tree, `.hashall-tmp-${a.id}`)),
      },
    };
  }

  const holder = (pid: number, planId: number): LockHolder => ({
    pid,
    startTime: `start-${pid}`,
    hostname: hostname(),
    planId,
    acquiredAt: 1000 + pid,
  });

  /** The holder of each locked device, alive or not (SQLite) or live (PostgreSQL). */
  async function locks(c: ExecuteCatalog = cat): Promise<Record<number, LockHolder>> {
    return Object.fromEntries((await c.executorLock.holders()).map((l) => [l.deviceId, l.holder]));
  }

  describe('executorLock', () => {
    it('is taken when free, kept from another live taker, and replaced when its holder is gone', async () => {
      expect(await locks()).toEqual({});
      const mine = holder(100, 1);
      expect(
        await cat.executorLock.acquire({ holder: mine, devices: [1, 2], alive: () => true }),
      ).toEqual({ kind: 'acquired', replaced: [] });
      expect(await locks()).toEqual({ 1: mine, 2: mine });

      // Another process wants one of them, while we are alive: refused, nothing of it taken.
      const asked: LockHolder[] = [];
      const other = holder(200, 2);
      const refused = await cat.executorLock.acquire({
        holder: other,
        devices: [3, 2],
        alive: (h) => {
          asked.push(h);
          return true;
        },
      });
      expect(refused).toEqual({ kind: 'held', lock: { deviceId: 2, holder: mine } });
      expect(asked).toEqual([mine]);
      expect(await locks()).toEqual({ 1: mine, 2: mine });

      // The same process names another plan: no liveness question, still ours.
      const again = holder(100, 3);
      expect(
        await cat.executorLock.acquire({
          holder: again,
          devices: [1, 2],
          alive: () => {
            throw new Error('asked about itself');
          },
        }),
      ).toEqual({ kind: 'acquired', replaced: [] });
      expect(await locks()).toEqual({ 1: again, 2: again });

      // We die: the other process replaces the stale lock and is told whose it was.
      expect(
        await cat.executorLock.acquire({ holder: other, devices: [2], alive: () => false }),
      ).toEqual({ kind: 'acquired', replaced: [{ deviceId: 2, holder: again }] });
      expect((await locks())[2]).toEqual(other);
    });

    it('is released only by its holder', async () => {
      await cat.executorLock.acquire({ holder: holder(100, 1), devices: [4], alive: () => true });
      await cat.executorLock.release(999);
      expect((await locks())[4]?.pid).toBe(100);
      await cat.executorLock.release(100);
      expect(await locks()).toEqual({});
    });

    it('lets two processes lock disjoint devices, and refuses the second on the same device naming the first', async () => {
      const second = await opened.another();
      try {
        const a = holder(100, 1);
        const b = holder(200, 2);
        expect(
          (await cat.executorLock.acquire({ holder: a, devices: [1, 2], alive: () => true })).kind,
        ).toBe('acquired');
        expect(
          (await second.cat.executorLock.acquire({ holder: b, devices: [3], alive: () => true }))
            .kind,
        ).toBe('acquired');
        expect(await locks(second.cat)).toEqual({ 1: a, 2: a, 3: b });
        const c = holder(300, 5);
        expect(
          await second.cat.executorLock.acquire({ holder: c, devices: [2, 9], alive: () => true }),
        ).toEqual({ kind: 'held', lock: { deviceId: 2, holder: a } });
        expect(await locks()).toEqual({ 1: a, 2: a, 3: b });
      } finally {
        await second.close();
      }
    });

    it('is taken over from a holder that is gone (SQLite: its pid is dead; PostgreSQL: its connection)', async () => {
      const second = await opened.another();
      const gone = holder(100, 1);
      expect(
        (await second.cat.executorLock.acquire({ holder: gone, devices: [6], alive: () => true }))
          .kind,
      ).toBe('acquired');
      await second.close(); // the holder is killed: its handle (connection) goes with it
      const taker = holder(200, 2);
      // SQLite asks whether the pid lives; PostgreSQL knows: the advisory lock died with the
      // connection, and a live answer does not keep a dead holder's device.
      const alive = backend.name === 'SQLite' ? () => false : () => true;
      expect(await cat.executorLock.acquire({ holder: taker, devices: [6], alive })).toEqual({
        kind: 'acquired',
        replaced: [{ deviceId: 6, holder: gone }],
      });
      expect(await locks()).toEqual({ 6: taker });
    });

    it.runIf(backend.name === 'PostgreSQL')(
      'refuses a wait past the lock timeout, naming the holder (PostgreSQL)',
      async () => {
        const holderConn = await opened.another();
        const stuck = await opened.another();
        try {
          const h = holder(4242, 7);
          expect(
            (
              await holderConn.cat.executorLock.acquire({
                holder: h,
                devices: [7],
                alive: () => true,
              })
            ).kind,
          ).toBe('acquired');
          // Another host's session stuck in the middle of taking locks: takers wait for it.
          await stuck.sql('BEGIN');
          await stuck.sql('SELECT pg_advisory_xact_lock(?, 0)', [EXECUTOR_LOCK_SPACE]);
          await expect(
            cat.executorLock.acquire({ holder: holder(5, 1), devices: [7], alive: () => true }),
          ).rejects.toThrow(
            new RegExp(
              `^waited 2000 ms for the executor lock of device 7 in vain: device 7 is being executed by pid 4242 on host ${hostname()} since 1970-`,
            ),
          );
          await stuck.sql('ROLLBACK');
          // Nothing was left half-taken: the holder keeps its device, and the taker can retry.
          expect(await locks()).toEqual({ 7: h });
        } finally {
          await stuck.close();
          await holderConn.close();
        }
      },
    );
  });

  describe('journal', () => {
    it('journals a batch of intents; recovery sees each with its action, mode and clone inode', async () => {
      const [a, b, c] = await replacements();
      expect(c).toBeDefined();
      expect((await cat.journal.pending()).execute).toBe(false);
      const target = lstatSync(abs(a!.targetPath), { bigint: true });
      await cat.journal.intents([{ ...intent(a!), originalTarget: target }, intent(b!)]);
      await cat.journal.cloneInode({ actionId: b!.id, inode: 4242n });

      expect(await cat.journal.pending()).toEqual({
        execute: true,
        undoJournal: false,
        undoPlans: false,
      });
      const open = await cat.journal.open();
      expect(open.map((e) => e.journal)).toEqual([intent(a!).journal, intent(b!).journal]);
      expect(open.map((e) => e.action?.id)).toEqual([a!.id, b!.id]);
      expect(open.map((e) => e.mode)).toEqual(['hardlink', 'hardlink']);
      expect(open.map((e) => e.cloneInode)).toEqual([undefined, 4242n]);
    });

    it('journals a batch atomically: one bad intent journals none of it', async () => {
      const [a] = await replacements();
      const bad = intent(a!);
      const missing = { journal: { ...bad.journal, actionId: 987_654 } };
      await expect(cat.journal.intents([intent(a!), missing])).rejects.toThrow(/foreign key/i);
      expect(await cat.journal.open()).toEqual([]);
    });

    it('records outcomes with their journal rows and inode changes, and verdicts, per batch', async () => {
      const [a, b, c] = await replacements();
      await cat.journal.intents([intent(a!), intent(b!)]);
      const inode = { deviceId: a!.sourceDeviceId, inode: a!.sourceInode };
      await cat.journal.outcomes({
        planId,
        outcomes: [
          {
            kind: 'linked',
            action: a!,
            source: { nlink: 2, ctimeNs: 77n, mtimeNs: a!.sourceMtimeNs },
          },
          // Our temp name is still there: the row stays for recovery.
          { kind: 'failed', action: b!, error: 'stale: test', journalClear: false },
        ],
        inodes: [{ ...inode, nlink: 2, ctimeNs: 77n }],
      });
      await cat.journal.verdicts([{ actionId: c!.id, status: 'noop', note: 'already linked' }]);

      const rows = await replacements();
      const status = (id: number) => rows.find((r) => r.id === id)!.status;
      expect([status(a!.id), status(b!.id), status(c!.id)]).toEqual(['executed', 'failed', 'noop']);
      expect((await cat.journal.open()).map((e) => e.journal.actionId)).toEqual([b!.id]);
      // A resumed run recognises our ctime change.
      const own = await cat.replacement.ownCtimes({ planId, inodes: [inode] });
      expect([...own.values()]).toEqual([77n]);
      expect(await cat.execution.failedCount(planId)).toBe(1);
      // The replaced target's catalog row names the source inode now.
      const [atTarget] = await cat.replacement.catalogInodes([
        { deviceId: a!.deviceId, path: a!.targetPath },
      ]);
      expect(atTarget).toBe(a!.sourceInode);
    });

    it.runIf(backend.name === 'PostgreSQL')(
      'sends as many statements for a batch of three as for one (PostgreSQL: no round trip per file)',
      async () => {
        const [a, b, c] = await replacements();
        const count = opened.statements!;
        const linked = (x: ActionRow) => ({
          kind: 'linked' as const,
          action: x,
          source: { nlink: 2, ctimeNs: 77n, mtimeNs: x.sourceMtimeNs },
        });
        const change = (x: ActionRow) => ({
          deviceId: x.sourceDeviceId,
          inode: x.sourceInode,
          nlink: 2,
          ctimeNs: 77n,
        });
        const cost = async (batch: ActionRow[]) => {
          const before = count();
          await cat.journal.intents(
            batch.map((x) => ({
              ...intent(x),
              originalTarget: lstatSync(abs(x.targetPath), { bigint: true }),
            })),
          );
          await cat.journal.outcomes({
            planId,
            outcomes: batch.map(linked),
            inodes: batch.map(change),
          });
          await cat.journal.verdicts(
            batch.map((x) => ({ actionId: x.id, status: 'noop' as const, note: null })),
          );
          await cat.replacement.ownCtimes({ planId, inodes: batch.map(change) });
          await cat.replacement.catalogInodes(
            batch.map((x) => ({ deviceId: x.deviceId, path: x.targetPath })),
          );
          return count() - before;
        };
        const one = await cost([a!]);
        const three = await cost([b!, c!, a!]);
        expect(three).toBe(one);
        expect(one).toBeLessThan(20);
      },
    );

    it('settles journaled actions forward and back, and closes the interrupted plan', async () => {
      const [a, b] = await replacements();
      await cat.execution.setStatus({ planId, status: 'executing' });
      await cat.journal.intents([intent(a!), intent(b!)]);
      // Forward: the target is the source inode (as if the rename happened before the kill).
      const source = lstatSync(abs(a!.sourcePath), { bigint: true });
      await cat.journal.settle({
        actionId: a!.id,
        planId,
        decision: { kind: 'forward', action: a!, target: source, replaced: 'link' },
        inodes: [],
      });
      await cat.journal.settle({
        actionId: b!.id,
        planId,
        decision: { kind: 'back', action: b! },
        inodes: [],
      });
      await cat.journal.closeInterrupted({ pid: process.pid });

      expect(await cat.journal.open()).toEqual([]);
      expect((await cat.journal.pending()).execute).toBe(false);
      const rows = await replacements();
      expect(rows.find((r) => r.id === a!.id)!.status).toBe('executed');
      expect(rows.find((r) => r.id === b!.id)!.status).toBe('pending');
      expect((await cat.execution.plan(planId))!.status).toBe('interrupted');
      expect(await cat.execution.bytesSaved(plan())).toBeGreaterThan(0);
    });
  });

  describe('runs on other devices', () => {
    it("recovery spares a live run's plan on another device, and settles it once that run is gone", async () => {
      const other = await opened.another();
      try {
        const [a] = await replacements();
        await cat.execution.setStatus({ planId, status: 'executing' });
        // Another process executes the plan on its device, alive.
        const theirs = holder(200, planId);
        expect(
          (
            await other.cat.executorLock.acquire({
              holder: theirs,
              devices: [a!.deviceId],
              alive: () => true,
            })
          ).kind,
        ).toBe('acquired');
        await cat.executorLock.acquire({
          holder: holder(100, 0),
          devices: [999],
          alive: () => true,
        });
        await cat.journal.closeInterrupted({ pid: 100 });
        expect((await cat.execution.plan(planId))!.status).toBe('executing');
        await other.cat.executorLock.release(200);
        await cat.journal.closeInterrupted({ pid: 100 });
        expect((await cat.execution.plan(planId))!.status).toBe('interrupted');
      } finally {
        await other.close();
      }
    });

    it('recovery settles only the journal rows of the devices it holds', async () => {
      const [a, b] = await replacements();
      await cat.journal.intents([intent(a!), intent(b!)]);
      const none = await recoverInterrupted(cat, { devices: new Set([a!.deviceId + 1000]) });
      expect(none).toEqual({ rolledForward: 0, rolledBack: 0, tempLinksRemoved: 0, problems: [] });
      expect((await cat.journal.open()).map((e) => e.journal.actionId)).toEqual([a!.id, b!.id]);
      const mine = await recoverInterrupted(cat, { devices: new Set([a!.deviceId]) });
      expect(mine.rolledBack).toBe(2);
      expect(await cat.journal.open()).toEqual([]);
    });
  });

  describe('execution', () => {
    it('pages through the plan in order, names its scan roots, and keeps its status', async () => {
      const first = await cat.execution.actionPage({ plan: plan(), after: 0, limit: 2 });
      const rest = await cat.execution.actionPage({
        plan: plan(),
        after: first.at(-1)!.row.id,
        limit: 100,
      });
      const ids = [...first, ...rest].map((a) => a.row.id);
      expect(first).toHaveLength(2);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
      expect(await cat.execution.replacements(planId)).toMatchObject({ actions: 3 });

      const deviceId = first[0]!.row.deviceId;
      const roots = await cat.execution.scanRoots(deviceId);
      expect(roots.map((r) => r.toString())).toEqual([
        expect.stringMatching(new RegExp(`${tree.split('/').slice(-2).join('/')}$`)),
      ]);
      expect((await cat.execution.devices()).map((d) => d.id)).toContain(deviceId);

      await cat.execution.setStatus({ planId, status: 'partial', endedAt: 1234 });
      expect(await cat.execution.plan(planId)).toMatchObject({
        status: 'partial',
        executedAt: 1234,
      });
      expect(await cat.execution.plan(987_654)).toBeUndefined();
    });
  });

  describe('recoverInterrupted through the port', () => {
    it('rolls a renamed action forward, one left at its temp link back, and removes our temp link', async () => {
      // A tree of its own: this test changes files.
      const own = join(dir, 'recover');
      writeTree(own, {
        'a/x.bin': Buffer.from('x content '.repeat(300)),
        'b/x.bin': Buffer.from('x content '.repeat(300)),
        'a/y.bin': Buffer.from('y content '.repeat(300)),
        'b/y.bin': Buffer.from('y content '.repeat(300)),
      });
      const path = join(dir, 'recover.db');
      expect(hashall(['scan', own, '--catalog', path, '-q']).code).toBe(0);
      const made = hashall(['conductor', 'plan', 'recover', '--catalog', path, '--json']);
      const id = made.json<{ id: number }>().id;
      const o = await backend.open(path, dir);
      const c = o.cat;
      try {
        const page = await c.execution.actionPage({
          plan: { id, mode: 'hardlink' },
          after: 0,
          limit: 10,
        });
        const [done, back] = page.filter((p) => p.type === 'HARDLINK').map((p) => p.row);
        const at = (p: Buffer) => join(own, ...p.toString().split('/').slice(-2));
        const entry = (a: ActionRow, temp: string) => ({
          journal: {
            actionId: a.id,
            planId: id,
            sourceAbs: Buffer.from(at(a.sourcePath)),
            targetAbs: Buffer.from(at(a.targetPath)),
            tempAbs: Buffer.from(temp),
          },
        });
        const tempDone = join(dirname(at(done!.targetPath)), '.hashall-tmp-done');
        const tempBack = join(dirname(at(back!.targetPath)), '.hashall-tmp-back');
        await c.execution.setStatus({ planId: id, status: 'executing' });
        await c.journal.intents([entry(done!, tempDone), entry(back!, tempBack)]);
        // As a killed run leaves them: one renamed over its target, one still at its temp name.
        linkSync(at(done!.sourcePath), tempDone);
        renameSync(tempDone, at(done!.targetPath));
        linkSync(at(back!.sourcePath), tempBack);
        const backTarget = lstatSync(at(back!.targetPath)).ino;

        const devices = new Set(page.map((p) => p.row.deviceId));
        const rep = await recoverInterrupted(c, { devices });
        expect(rep).toEqual({ rolledForward: 1, rolledBack: 1, tempLinksRemoved: 1, problems: [] });
        expect(existsSync(tempBack)).toBe(false);
        expect(lstatSync(at(back!.targetPath)).ino).toBe(backTarget);
        expect(lstatSync(at(done!.targetPath)).ino).toBe(lstatSync(at(done!.sourcePath)).ino);
        expect(await c.journal.open()).toEqual([]);
        const rows = await c.execution.actionPage({
          plan: { id, mode: 'hardlink' },
          after: 0,
          limit: 10,
        });
        const status = (a: ActionRow) => rows.find((r) => r.row.id === a.id)!.row.status;
        expect([status(done!), status(back!)]).toEqual(['executed', 'pending']);
        expect((await c.execution.plan(id))!.status).toBe('interrupted');
      } finally {
        await o.close();
      }
    });
  });

  describe('Executor through the port', () => {
    it('journals each batch before touching a file, and records outcomes after', async () => {
      const own = join(dir, 'executor');
      writeTree(own, {
        'a/x.bin': Buffer.from('x content '.repeat(300)),
        'b/x.bin': Buffer.from('x content '.repeat(300)),
        'a/y.bin': Buffer.from('y content '.repeat(300)),
        'b/y.bin': Buffer.from('y content '.repeat(300)),
      });
      const path = join(dir, 'executor.db');
      expect(hashall(['scan', own, '--catalog', path, '-q']).code).toBe(0);
      const id = hashall(['conductor', 'plan', 'order', '--catalog', path, '--json']).json<{
        id: number;
      }>().id;
      const o = await backend.open(path, dir);
      const c = o.cat;
      try {
        const at = (p: Buffer) => join(own, ...p.toString().split('/').slice(-2));
        const ino = (p: string) => BigInt(lstatSync(p).ino);
        const steps: string[] = [];
        // The real catalog, watched: what the disk and the journal hold when each step is asked.
        const watched: ExecutorCatalog = {
          ...c,
          journal: {
            ...c.journal,
            intents: async (batch) => {
              await c.journal.intents(batch);
              // Committed, and not one target touched yet.
              const open = (await c.journal.open()).map((e) => e.journal.actionId);
              for (const i of batch) {
                expect(open).toContain(i.journal.actionId);
                const target = i.journal.targetAbs.toString();
                expect(ino(target)).not.toBe(ino(i.journal.sourceAbs.toString()));
              }
              steps.push(`intents ${batch.length}`);
            },
            outcomes: async (batch) => {
              // Every linked target is the source inode already, and still journaled.
              const open = (await c.journal.open()).map((e) => e.journal.actionId);
              for (const o of batch.outcomes) {
                expect(o.kind).toBe('linked');
                expect(open).toContain(o.action.id);
                expect(ino(at(o.action.targetPath))).toBe(ino(at(o.action.sourcePath)));
              }
              steps.push(`outcomes ${batch.outcomes.length}`);
              await c.journal.outcomes(batch);
            },
          },
        };
        const planRow = (await c.execution.plan(id))!;
        const s = await new Executor(watched, planRow, {
          dryRun: false,
          verify: 'bytes',
          shouldStop: () => false,
        }).run();
        expect(s).toMatchObject({ executed: 2, failed: 0, status: 'executed' });
        expect(steps).toEqual(['intents 2', 'outcomes 2']);
        expect(await c.journal.open()).toEqual([]);
      } finally {
        await o.close();
      }
    });
  });
});
