/**
 * A plan made through the PostgreSQL port is the same plan as through SQLite: one real tree
 * (hostile names from mktree --tricky, copies, hardlinks, an inode pinned by a link outside the
 * scan, copies whose mode differs, another mtime) scanned into both catalogs, then planned with
 * several requests (everything, keep rules, a size range, a scope, one device, reflink mode,
 * and across filesystems with a tmpfs when mounting is permitted). The plans, their actions
 * (paths bytes for bytes, inodes and times exactly), counts, scopes and totals are compared,
 * and so are the group pages planning reads. Ids are each catalog's own and left out.
 */
import { chmodSync, linkSync, mkdirSync, realpathSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionRow } from '../../src/catalog/actions.js';
import type { GroupKind } from '../../src/catalog/plan-port.js';
import type { Member } from '../../src/catalog/groups.js';
import { Filters } from '../../src/conductor/filters.js';
import { parseKeepRule } from '../../src/conductor/keep-rules.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgPlanOps } from '../../src/catalog/pg/plan.js';
import { pgScanOps } from '../../src/catalog/pg/scan.js';
import { createPlan, type PlanRequest } from '../../src/conductor/plan.js';
import { resolveScope } from '../../src/conductor/scope.js';
import { mktree, removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { memberFactory } from '../helpers/members.js';
import {
  mountTmpfs,
  mountUnavailableReason,
  requireMounts,
  unmountAll,
} from '../helpers/mounts.js';
import {
  pgPlanBackend,
  pgPlanCluster,
  sqlitePlanBackend,
  type PlanOpened,
  type PlanTestCatalog,
} from '../helpers/plan-backends.js';

const hex = (b: Buffer | null) => (b === null ? null : b.toString('hex'));

/** Device ids as identities: each catalog numbers its own. */
async function identities(port: PlanTestCatalog): Promise<Map<number, string>> {
  return new Map((await port.planDevices.list()).map((d) => [d.id, d.identity]));
}

function actionLine(a: ActionRow, dev: Map<number, string>): string {
  return JSON.stringify({
    group: a.groupNo,
    type: a.type,
    device: dev.get(a.deviceId),
    hash: hex(a.groupHash),
    size: a.size,
    sourceDevice: dev.get(a.sourceDeviceId),
    source: hex(a.sourcePath),
    target: hex(a.targetPath),
    inodes: [a.sourceInode, a.targetInode].map(String),
    times: [a.sourceMtimeNs, a.sourceCtimeNs, a.targetMtimeNs, a.targetCtimeNs].map(String),
    nlink: a.targetNlink,
    bytes: a.bytes,
    keepRule: a.keepRule,
    reason: a.reason,
    status: a.status,
    undo: a.undoStatus,
  });
}

function memberLine(m: Member, dev: Map<number, string>): string {
  return JSON.stringify({
    device: dev.get(m.deviceId),
    path: hex(m.path),
    inode: String(m.inode),
    nlink: m.nlink,
    size: m.size,
    times: [String(m.mtimeNs), String(m.ctimeNs)],
    owner: [m.mode, m.uid, m.gid],
    sha: hex(m.sha256),
  });
}

/** A plan as both backends must agree on it: everything but ids and times of creation. */
async function planView(port: PlanTestCatalog, req: PlanRequest) {
  const dev = await identities(port);
  const { plan, counts, reflink } = await createPlan(port, req);
  const actions = (await port.planActions.top(plan.id, -1)).map((a) => actionLine(a, dev));
  const inOrder: string[] = [];
  for (let after = 0; ;) {
    const page = await port.planActions.page({
      planId: plan.id,
      afterId: after,
      limit: 7,
      types: ['HARDLINK', 'NOOP', 'SKIP'],
    });
    if (page.length === 0) break;
    inOrder.push(...page.map((a) => actionLine(a, dev)));
    after = page[page.length - 1]!.id;
  }
  const stored = (await port.plans.get(plan.id))!;
  return {
    plan: { ...stored, id: 0, createdAt: 0 },
    listed: (await port.plans.list()).find((p) => p.id === plan.id)?.name,
    counts,
    reflink: reflink && {
      unsupported: reflink.unsupported.map((u) => ({ ...u, device: u.device.identity })),
      estimated: reflink.estimated,
    },
    actions,
    inOrder,
    scope: (await port.plans.scope(plan.id)).map((s) => ({
      device: dev.get(s.deviceId),
      fsPath: hex(s.fsPath),
      path: hex(s.path),
    })),
    metadataChanges: await port.plans.metadataChanges(plan.id),
  };
}

/**
 * A group's members as both catalogs must hand them over: by (device, inode), which is checked,
 * and the paths of one inode by path. Each catalog gives those by row id, and row ids follow
 * the order a scan wrote its rows in, which the hashing threads decide (a file's row is written
 * with its hashes): the SQLite and the PostgreSQL scan of one tree number the links of an inode
 * differently at times (a run of the suite on Node 26, 2026-12-03). Keep rules break their
 * ties by path, not by this order (conductor/keep-rules.ts), so plans do not depend on it.
 */
function membersView(group: readonly Member[], dev: Map<number, string>): string[] {
  const byInode = (a: Member, b: Member) =>
    a.deviceId - b.deviceId || (a.inode < b.inode ? -1 : a.inode > b.inode ? 1 : 0);
  for (let i = 1; i < group.length; i++) {
    expect(byInode(group[i - 1]!, group[i]!)).toBeLessThanOrEqual(0);
  }
  return [...group]
    .sort((a, b) => byInode(a, b) || Buffer.compare(a.path, b.path))
    .map((m) => memberLine(m, dev));
}

/** Every group of a kind, as planning pages through it (pages of 3). */
async function groupsView(port: PlanTestCatalog, kind: GroupKind, scoped: boolean) {
  const dev = await identities(port);
  return port.unitOfWork(async () => {
    await port.planning.select({ kind, deviceId: undefined, scoped });
    const groups: string[][] = [];
    for (let after: number | undefined = 0; after !== undefined;) {
      const page = await port.planning.page({
        kind,
        after,
        limit: 3,
        sizes: { min: undefined, max: undefined },
      });
      groups.push(...page.groups.map((g) => membersView(g, dev)));
      after = page.next;
    }
    return groups;
  });
}

describe.skipIf(pgPlanBackend.unavailable)('a plan through the PostgreSQL port', () => {
  let dir: string;
  let root: string;
  let sqlite: PlanOpened;
  let pg: PlanOpened;

  beforeAll(async () => {
    await pgPlanBackend.setup();
    dir = realpathSync(tempDir('hashall-pg-plan-'));
    root = join(dir, 'tree');
    mkdirSync(join(dir, 'sqlite'));
    mkdirSync(join(dir, 'pg'));
    sqlite = await sqlitePlanBackend.open(join(dir, 'sqlite'));
    pg = await pgPlanBackend.open(join(dir, 'pg'));
    mktree(join(root, 'm'), ['--files', '200', '--tricky', '--seed', '5', '--total-mb', '2']);
    const same = 'one content, several modes and times\n'.repeat(20);
    writeTree(root, { 'modes/a': same, 'modes/b': same, 'modes/c': same, 'pin/p': same });
    chmodSync(join(root, 'modes/b'), 0o600);
    utimesSync(join(root, 'modes/c'), 1_500_000_000, 1_500_000_000);
    // A link outside the scanned tree pins pin/p's inode.
    mkdirSync(join(dir, 'outside'));
    linkSync(join(root, 'pin/p'), join(dir, 'outside/p'));
    // Two links of one inode, content unique: a NOOP.
    writeTree(root, { 'links/one': 'linked, unique\n' });
    linkSync(join(root, 'links/one'), join(root, 'links/two'));
    await sqlite.scan(root);
    await pg.scan(root);
  }, 180_000);

  afterAll(async () => {
    await sqlite?.close();
    await pg?.close();
    pgPlanBackend.teardown();
    unmountAll();
    removeTree(dir);
  });

  it('reads the same groups, pages and members as SQLite', async () => {
    for (const kind of ['same-device', 'link-only', 'cross-device'] as const) {
      const [a, b] = [
        await groupsView(sqlite.port, kind, false),
        await groupsView(pg.port, kind, false),
      ];
      if (kind !== 'cross-device') expect(a.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
    }
  }, 120_000);

  it('stores the same plans as SQLite, request by request', async () => {
    const requests: { name: string; req: (port: PlanTestCatalog) => Promise<PlanRequest> }[] = [
      { name: 'all', req: async () => ({ name: 'all', sameDevice: true, crossDevice: true }) },
      {
        name: 'newest, then path',
        req: async () => ({
          name: 'keep',
          sameDevice: true,
          crossDevice: false,
          keep: [parseKeepRule('newest'), parseKeepRule('shortest-path')],
        }),
      },
      {
        name: 'a size range',
        req: async () => ({
          name: 'sized',
          sameDevice: true,
          crossDevice: false,
          filters: Filters.parse({ minSize: '1k', maxSize: '64k' }),
        }),
      },
      {
        name: 'a scope',
        req: async (port) => ({
          name: 'scoped',
          sameDevice: true,
          crossDevice: false,
          scope: await resolveScope(port, [
            Buffer.from(join(root, 'm')),
            Buffer.from(join(root, 'modes')),
          ]),
        }),
      },
      {
        name: 'one device',
        req: async (port) => ({
          name: 'device',
          sameDevice: true,
          crossDevice: false,
          device: (await port.planDevices.list())[0]!,
        }),
      },
      {
        name: 'reflink mode',
        req: async () => ({
          name: 'reflink',
          sameDevice: true,
          crossDevice: false,
          mode: 'reflink',
        }),
      },
    ];
    for (const r of requests) {
      const [a, b] = [
        await planView(sqlite.port, await r.req(sqlite.port)),
        await planView(pg.port, await r.req(pg.port)),
      ];
      // A reflink plan where no filesystem clones plans nothing and says where and why.
      if (r.name === 'reflink mode')
        expect(a.plan.options.reflink_unsupported?.length, r.name).toBeGreaterThan(0);
      else expect(a.actions.length, r.name).toBeGreaterThan(0);
      expect(b, r.name).toEqual(a);
    }
    // The kinds of action the tree was made for are there.
    const all = await planView(pg.port, { name: 'again', sameDevice: true, crossDevice: false });
    const types = new Set(all.actions.map((l) => (JSON.parse(l) as { type: string }).type));
    expect(types).toEqual(new Set(['HARDLINK', 'NOOP', 'SKIP']));
  }, 180_000);

  it('plans across filesystems as SQLite does (a tmpfs beside the tree)', async (ctx) => {
    requireMounts(ctx);
    const other = join(dir, 'other');
    mountTmpfs(other, 16);
    const same = 'one content, several modes and times\n'.repeat(20);
    writeFileSync(join(other, 'copy'), same);
    writeFileSync(join(other, 'copy2'), same);
    await sqlite.scan(other);
    await pg.scan(other);
    const [a, b] = [
      await groupsView(sqlite.port, 'cross-device', false),
      await groupsView(pg.port, 'cross-device', false),
    ];
    expect(a.length).toBeGreaterThan(0);
    expect(b).toEqual(a);
    const req: PlanRequest = { name: 'across', sameDevice: true, crossDevice: true };
    const [pa, pb] = [await planView(sqlite.port, req), await planView(pg.port, req)];
    expect(pa.actions.some((l) => l.includes('"type":"SKIP"'))).toBe(true);
    expect(pb).toEqual(pa);
    const tmpfs = (await pg.port.planDevices.list()).find((d) => d.fsType === 'tmpfs');
    expect(tmpfs).toBeDefined();
    const oneDevice = async (port: PlanTestCatalog) =>
      planView(port, {
        name: 'across, one device',
        sameDevice: false,
        crossDevice: true,
        device: (await port.planDevices.list()).find((d) => d.identity === tmpfs!.identity)!,
      });
    expect(await oneDevice(pg.port)).toEqual(await oneDevice(sqlite.port));
  }, 120_000);
});

if (mountUnavailableReason()) console.warn(`pg-plan: ${mountUnavailableReason()}`);

describe.skipIf(pgPlanBackend.unavailable)('round trips of planning on PostgreSQL', () => {
  let dir: string;
  beforeAll(async () => {
    await pgPlanBackend.setup();
    dir = realpathSync(tempDir('hashall-pg-plan-trips-'));
  }, 120_000);
  afterAll(() => {
    pgPlanBackend.teardown();
    removeTree(dir);
  });

  /** Statements to plan a tree of `groups` duplicate groups (3 copies each) and 2 NOOPs. */
  async function planStatements(groups: number): Promise<{ statements: number; actions: number }> {
    const at = join(dir, `g${groups}`);
    const tree = join(at, 'tree');
    const files: Record<string, string> = { 'n/one': 'one inode, two links\n' };
    for (let g = 0; g < groups; g++)
      for (let c = 0; c < 3; c++) files[`d${g % 7}/g${g}-c${c}`] = `group ${g}\n`.repeat(10);
    writeTree(tree, files);
    linkSync(join(tree, 'n/one'), join(tree, 'n/two'));
    const cat = await pgPlanBackend.open(at);
    try {
      await cat.scan(tree);
      const before = cat.statements!();
      const { plan } = await createPlan(cat.port, {
        name: 'trips',
        sameDevice: true,
        crossDevice: true,
      });
      const statements = cat.statements!() - before;
      return { statements, actions: (await cat.port.planActions.top(plan.id, -1)).length };
    } finally {
      await cat.close();
    }
  }

  it('plans with a fixed number of statements per page, whatever the number of groups', async () => {
    const small = await planStatements(3);
    const large = await planStatements(400);
    expect(small.actions).toBe(3 * 2 + 1);
    expect(large.actions).toBe(400 * 2 + 1);
    // Both fit one page of groups: the same statements, not one per group or action.
    expect(large.statements).toBe(small.statements);
  }, 120_000);
});

describe.skipIf(pgPlanBackend.unavailable)('discard against another host on PostgreSQL', () => {
  let dir: string;
  beforeAll(async () => {
    await pgPlanBackend.setup();
    dir = realpathSync(tempDir('hashall-pg-plan-discard-'));
  }, 120_000);
  afterAll(() => {
    pgPlanBackend.teardown();
    removeTree(dir);
  });

  it('waits for a plan being marked executing elsewhere, then refuses; else deletes it', async () => {
    const tree = join(dir, 'tree');
    writeTree(tree, { 'a/x': 'twice\n'.repeat(50), 'b/x': 'twice\n'.repeat(50) });
    const cat = await pgPlanBackend.open(dir);
    const other = await connectPg(cat.url!);
    try {
      await cat.scan(tree);
      const req = { name: 'contended', sameDevice: true, crossDevice: false };
      const { plan } = await createPlan(cat.port, req);
      // Another connection (an executor on another host) marks it executing, not committed yet.
      await other.client.query('BEGIN');
      await other.client.query(`UPDATE conductor_plans SET status = 'executing' WHERE id = $1`, [
        plan.id,
      ]);
      let settled = false;
      const discard = cat.port.plans.discardPending(plan.id).finally(() => {
        settled = true;
      });
      // The discard waits on the plan's row until the other transaction ends: seen as a lock
      // not granted on the server (polled: no timing assumed).
      for (let tries = 0; ; tries++) {
        const r = await other.client.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND pid != pg_backend_pid()`,
        );
        if (Number(r.rows[0]!.n) > 0) break;
        if (tries > 600) throw new Error('the discard never waited for the plan row');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(settled).toBe(false);
      await other.client.query('COMMIT');
      expect(await discard).toEqual({ kind: 'refused', status: 'executing' });
      expect((await cat.port.plans.get(plan.id))?.status).toBe('executing');
      // A pending plan nobody touches is deleted with its actions.
      const { plan: free } = await createPlan(cat.port, { ...req, name: 'free' });
      expect(await pgPlanOps(other.client).plans.discardPending(free.id)).toEqual({
        kind: 'deleted',
        actions: 1,
      });
      expect(await cat.port.plans.get(free.id)).toBeUndefined();
      expect(await cat.port.planActions.counts(free.id)).toEqual([]);
    } finally {
      await other.client.end();
      await cat.close();
    }
  }, 120_000);
});

describe.skipIf(pgPlanBackend.unavailable)('text order on PostgreSQL', () => {
  beforeAll(() => pgPlanBackend.setup(), 120_000);
  afterAll(() => pgPlanBackend.teardown());

  it('counts order reasons by bytes, as SQLite, in a database whose collation is linguistic', async (ctx) => {
    const cluster = pgPlanCluster();
    const icu = await cluster.admin<{ n: string }>(
      `SELECT count(*) AS n FROM pg_collation WHERE collprovider = 'i'`,
    );
    if (Number(icu.rows[0]!.n) === 0) {
      ctx.skip('this PostgreSQL has no ICU collations');
      return;
    }
    const name = `icu_${process.pid}`;
    await cluster.admin(
      `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`,
    );
    const conn = await connectPg(cluster.url(name));
    try {
      await migratePg(conn);
      const client = conn.client;
      // The database really orders text linguistically: 'a' before 'B'.
      const ling = await client.query<{ t: string }>(
        `SELECT t FROM unnest(ARRAY['B', 'a']) AS t ORDER BY t`,
      );
      expect(ling.rows.map((r) => r.t)).toEqual(['a', 'B']);
      const port = { ...pgScanOps(client), ...pgPlanOps(client) };
      const device = await port.devices.register({
        identity: 'test:icu',
        stable: true,
        fsType: 'test',
        stDev: 1n,
        mountPoint: Buffer.from('/'),
        mountRoot: Buffer.from('/'),
      });
      const make = memberFactory({ deviceId: device.id });
      const id = await port.plans.create({
        name: 'reasons',
        options: {
          deviceId: null,
          deviceAlias: null,
          sameDevice: true,
          crossDevice: false,
          keep: 'most-linked',
        },
        scope: [],
      });
      const reasons = ['b: owner', 'B: mode', 'a: group', '_: other'];
      await port.planActions.write(
        id,
        reasons.map((reason, i) => ({
          groupNo: i + 1,
          actions: [
            { type: 'SKIP', source: make('/s', 1), target: make('/t', 2), bytes: 0, reason },
          ],
        })),
      );
      const counts = await port.planActions.counts(id);
      // Bytes: 'B' (0x42) < '_' (0x5f) < 'a' < 'b'.
      expect(counts.map((c) => c.reason)).toEqual(['B: mode', '_: other', 'a: group', 'b: owner']);
    } finally {
      await conn.client.end();
    }
  }, 120_000);
});
