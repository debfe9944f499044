/**
 * The read side through the catalog port (src/catalog/query-port.ts), run once on each backend
 * (test/helpers/query-backends.ts): a real SQLite catalog and a real PostgreSQL catalog in a
 * throwaway cluster (skipped with the reason when PostgreSQL is not installed, unless
 * HASHALL_REQUIRE_PG=1), each filled by a real scan (runScan) of the same small tree: groups
 * and analyze, the dupes listing a page at a time (with its path budget), stats, the export in
 * pages, and a plan's report. Nothing is mocked; the expected figures follow from the tree
 * written here, and a last test compares what the two backends returned, value for value.
 *
 * The plan a report reads is the CLI's (`conductor plan`) on SQLite; on PostgreSQL, until its
 * plan concern lands, the same plan's rows copied from a SQLite catalog of the same tree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { openCatalog } from '../../src/catalog/open.js';
import { ALL_ROWS, type RowScope } from '../../src/catalog/query-port.js';
// Types from src, the scanner from dist: its hash pool starts the compiled hash-worker.js.
import type * as ScannerMod from '../../src/scan/scanner.js';
import { analyze, status } from '../../src/conductor/analyze.js';
import { iterateDupes } from '../../src/conductor/dupes.js';
import { resolveScope } from '../../src/conductor/scope.js';
import { rowScope } from '../../src/conductor/group-view.js';
import { Filters } from '../../src/conductor/filters.js';
import type { Scope } from '../../src/conductor/scope.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import {
  pgQueryBackend,
  sqliteQueryBackend,
  type QueryOpened,
  type QueryTestCatalog,
  timeless,
} from '../helpers/query-backends.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { runScan } = (await import(dist('scan/scanner.js'))) as typeof ScannerMod;

/** n bytes of one repeated letter: contents differ by letter and by size. */
const fill = (letter: string, n: number) => letter.repeat(n);

// X: three copies (3,000 B), Y: two copies (5,000 B), Z: an inode with two links plus a copy
// (700 B). Savings: X 6,000, Y 5,000, Z 700 — the listing order.
const X = fill('x', 3000);
const Y = fill('y', 5000);
const Z = fill('z', 700);

let dir: string;
let root: string;
/** A SQLite catalog of the tree made by the CLI: scope resolution, and the plan PostgreSQL gets. */
let reference: string;
/** Scope `a/` as the reference resolves it (device ids and directory paths agree across catalogs). */
let scopeA: Scope;

beforeAll(async () => {
  dir = realpathSync(tempDir('hashall-query-port-'));
  root = join(dir, 'tree');
  reference = join(dir, 'reference.db');
  writeTree(root, {
    'a/x1': X,
    'a/x2': X,
    'b/x3': X,
    'a/y1': Y,
    'b/y2': Y,
    'b/z1': Z,
    'a/z2': Z,
    'a/unique': fill('u', 100),
    'a/e0': '',
    'b/e1': '',
  });
  linkSync(join(root, 'b/z1'), join(root, 'b/z1link'));
  const s = hashall(['scan', root, '--catalog', reference, '--quiet']);
  expect(s.code, s.stderr).toBe(0);
  const p = hashall(['conductor', 'plan', 'everything', '--catalog', reference, '--quiet']);
  expect(p.code, p.stderr).toBe(0);
  const ref = openCatalog(reference, { readonly: true });
  try {
    scopeA = await resolveScope(ref, [Buffer.from(join(root, 'a'))]);
  } finally {
    ref.db.close();
  }
});

afterAll(() => {
  if (dir) removeTree(dir);
});

const names = (paths: readonly { path: Buffer }[]) =>
  paths.map((p) => p.path.toString().slice(p.path.toString().lastIndexOf('/') + 1)).sort();

/** What each backend returned, by test, for the comparison at the end. */
const seen = new Map<string, Record<string, unknown>>();

describe.each([sqliteQueryBackend, pgQueryBackend])('the query port on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }

  let opened: QueryOpened;
  let catalog: QueryTestCatalog;
  const out: Record<string, unknown> = {};
  seen.set(backend.name, out);

  beforeAll(async () => {
    await backend.setup();
    const own = join(dir, backend.name);
    mkdirSync(own);
    opened = await backend.open(own);
    catalog = opened.catalog;
    const s = await runScan(catalog, { roots: [root], jobs: 1 });
    expect(s.errors).toEqual([]);
    await opened.addPlan({ reference, name: 'everything' });
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
    backend.teardown();
  });

  describe('groups', () => {
    it('prepares the same-device groups, largest saving first, and pages through them', async () => {
      const g = await catalog.groups.sameDevice({ scope: ALL_ROWS });
      expect({ groups: g.groups, saveable: g.saveable, pinned: g.pinnedInodes }).toEqual({
        groups: 3,
        saveable: 6000 + 5000 + 700,
        pinned: 0,
      });
      const first = await g.page(0, 2);
      expect(first.map((k) => k.size)).toEqual([3000, 5000]);
      const second = await g.page(first[1]!.rowId, 2);
      expect(second.map((k) => [k.size, k.inodes, k.paths])).toEqual([[700, 2, 3]]);
      expect(await g.page(second[0]!.rowId, 2)).toEqual([]);
      const members = await catalog.groups.members([...first, ...second]);
      expect(members.map(names)).toEqual([
        ['x1', 'x2', 'x3'],
        ['y1', 'y2'],
        ['z1', 'z1link', 'z2'],
      ]);
      const content = await catalog.groups.contentMembers([...first, ...second]);
      expect(content.map(names)).toEqual(members.map(names));
      const hardlinks = await catalog.groups.hardlinks({});
      expect(hardlinks).toEqual({ sharedPaths: 2, inodes: 1, bytesSaved: 700 });
      expect(await catalog.groups.emptyFiles({ scope: ALL_ROWS })).toBe(2);
      const cross = await catalog.groups.crossDevice({ scope: ALL_ROWS });
      expect(cross.groups).toBe(0);
      Object.assign(out, {
        groups: [first, second],
        members,
        content,
        hardlinks,
        cross: { groups: cross.groups, bytes: cross.bytes },
      });
    });

    it('a scope keeps only the rows below its directories', async () => {
      const a: RowScope = rowScope(scopeA);
      expect(a.kind).toBe('dirs');
      const g = await catalog.groups.sameDevice({ scope: a });
      // Only x1 and x2 share a content inside a/.
      expect({ groups: g.groups, saveable: g.saveable }).toEqual({ groups: 1, saveable: 3000 });
      expect(await catalog.groups.emptyFiles({ scope: a })).toBe(1);
      out.scoped = await g.page(0, 10);
      // Preparing again without a scope replaces the grouping.
      expect((await catalog.groups.sameDevice({ scope: ALL_ROWS })).groups).toBe(3);
    });

    it('analyze and status read the same figures through the port', async () => {
      const a = await analyze(catalog, { crossDevice: true, limit: -1 });
      expect(a.sameDevice.groups).toBe(3);
      expect(a.sameDevice.bytesSaveable).toBe(11_700);
      expect(a.sameDevice.top.map((g) => g.saveable)).toEqual([6000, 5000, 700]);
      expect(a.crossDevice).toEqual({ groups: 0, bytes: 0, top: [] });
      expect(a.emptyFiles).toBe(2);
      expect(a.pending).toBe(0);
      expect(a.devices).toHaveLength(1);
      expect(a.devices[0]!.usage?.files).toBe(11);

      // With a filter every group is planned from its members (fetched a batch at a time).
      const filtered = await analyze(catalog, {
        crossDevice: false,
        limit: -1,
        filters: Filters.parse({ exclude: ['*/x3'] }),
      });
      expect(filtered.sameDevice.top.map((g) => g.saveable)).toEqual([5000, 3000, 700]);

      const scoped = await analyze(catalog, { crossDevice: false, limit: 1, scope: scopeA });
      expect(scoped.sameDevice.groups).toBe(1);
      expect(scoped.sameDevice.bytesSaveable).toBe(3000);
      expect(scoped.emptyFiles).toBe(1);

      const s = await status(catalog);
      expect({
        files: s.files,
        inodes: s.inodes,
        groups: s.groups,
        saveable: s.bytesSaveable,
      }).toEqual({ files: 11, inodes: 10, groups: 3, saveable: 11_700 });
      Object.assign(out, {
        analyze: a,
        filtered: filtered.sameDevice,
        scopedAnalyze: scoped.sameDevice,
      });
    });
  });

  describe('dupes', () => {
    it('pages hold at most `groups` groups and, past the first, at most `paths` paths', async () => {
      const listing = await catalog.dupes.prepare({ crossDevice: false, scope: ALL_ROWS });
      expect(listing.groups).toBe(3);
      const walk: string[][][] = [];
      const pages = [];
      for (let after = 0; ;) {
        const page = await listing.page({ afterRowId: after, groups: 10, paths: 3 });
        if (page.length === 0) break;
        pages.push(page);
        walk.push(page.map((g) => names(g.paths)));
        after = page[page.length - 1]!.key.rowId;
      }
      // X fills the budget alone; Y (2) then Z (3) would exceed it together: one page each.
      expect(walk).toEqual([[['x1', 'x2', 'x3']], [['y1', 'y2']], [['z1', 'z1link', 'z2']]]);
      const all = await listing.page({ afterRowId: 0, groups: 2, paths: 100 });
      expect(all.map((g) => g.key.size)).toEqual([3000, 5000]);
      const cross = await catalog.dupes.prepare({ crossDevice: true, scope: ALL_ROWS });
      const crossPage = await cross.page({ afterRowId: 0, groups: 10, paths: 100 });
      expect(crossPage.map((g) => [g.key.deviceId, g.key.size, g.paths.length])).toEqual([
        [null, 3000, 3],
        [null, 5000, 2],
        [null, 700, 3],
      ]);
      Object.assign(out, { dupePages: pages, crossDupes: crossPage });
    });

    it('applies size and mtime bounds in the query, and iterateDupes lists the groups with their links', async () => {
      const small = await catalog.dupes.prepare({
        crossDevice: false,
        scope: ALL_ROWS,
        maxSize: 3000,
      });
      expect(small.groups).toBe(2);
      const big = await catalog.dupes.prepare({
        crossDevice: false,
        scope: ALL_ROWS,
        minSize: 4000,
      });
      expect(big.groups).toBe(1);
      const future = await catalog.dupes.prepare({
        crossDevice: false,
        scope: ALL_ROWS,
        mtimeSince: BigInt(Date.now() + 86_400_000) * 1_000_000n,
      });
      expect(future.groups).toBe(0);
      const past = await catalog.dupes.prepare({
        crossDevice: false,
        scope: ALL_ROWS,
        mtimeBefore: BigInt(Date.now() + 86_400_000) * 1_000_000n,
      });
      expect(past.groups).toBe(3);
      const groups = [];
      for await (const page of iterateDupes(catalog, { crossDevice: false })) groups.push(...page);
      expect(groups.map((g) => [g.no, g.size, g.files, g.entries.length, g.bytesSaveable])).toEqual(
        [
          [1, 3000, 3, 3, 6000],
          [2, 5000, 2, 2, 5000],
          [3, 700, 2, 3, 700],
        ],
      );
      const z = groups[2]!.entries;
      expect(z.map((e) => [e.linkIndex, e.links])).toEqual([
        [0, 1],
        [0, 2],
        [1, 2],
      ]);
      const limited = [];
      for await (const page of iterateDupes(catalog, {
        crossDevice: false,
        scope: scopeA,
        limit: 5,
      }))
        limited.push(...page);
      expect(limited.map((g) => names(g.entries))).toEqual([['x1', 'x2']]);
      const two = [];
      for await (const page of iterateDupes(catalog, { crossDevice: false, limit: 2 }))
        two.push(...page);
      expect(two.map((g) => g.size)).toEqual([3000, 5000]);
      Object.assign(out, { iterateDupes: groups, limitedDupes: limited });
    });
  });

  describe('stats and export', () => {
    it('stats give the catalog totals, the device and the last scan of the root', async () => {
      const s = await catalog.stats.catalog();
      expect({ files: s.activeFiles, inodes: s.activeInodes, empty: s.emptyFiles }).toEqual({
        files: 11,
        inodes: 10,
        empty: 2,
      });
      expect(s.devices).toBe(1);
      expect(await catalog.devices.list()).toHaveLength(1);
      expect(await catalog.hashing.pending()).toBe(0);
      const scans = await catalog.scans.lastPerRoot();
      expect(scans.map((r) => [r.root.toString(), r.status])).toEqual([[root, 'completed']]);
      // On PostgreSQL the check is amcheck's, when the extension is installed: install it.
      await opened.admin?.('CREATE EXTENSION IF NOT EXISTS amcheck');
      expect(await catalog.stats.integrityProblems({ max: 10 })).toEqual([]);
      const usage = await catalog.stats.deviceUsage();
      expect([...usage.values()].map((u) => [u.files, u.inodes])).toEqual([[11, 10]]);
      Object.assign(out, {
        stats: s,
        usage,
      });
    });

    it('export comes in pages; leaving early frees the connection', async () => {
      const sizes: number[] = [];
      const rows = [];
      for await (const page of catalog.export.files({ pageSize: 4 })) {
        sizes.push(page.length);
        rows.push(...page);
      }
      expect(sizes).toEqual([4, 4, 3]);
      expect(rows).toHaveLength(11);
      const order = rows.map((r) => `${r.dirPath.toString()}/${r.name.toString()}`);
      expect(order).toEqual(
        [...order].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
      );
      // Page boundaries fall inside a directory: every row comes once.
      expect(new Set(order).size).toBe(11);
      let one = 0;
      for await (const page of catalog.export.files({ deviceId: rows[0]!.deviceId, pageSize: 1 }))
        one += page.length;
      expect(one).toBe(11);
      out.export = rows;
      const own = await opened.another();
      for await (const page of own.catalog.export.files({ pageSize: 2 })) {
        expect(page).toHaveLength(2);
        break;
      }
      // A cursor left open keeps the connection busy: it could not be closed.
      await expect(own.close()).resolves.toBeUndefined();
    });
  });

  describe('plan report', () => {
    it('summarises a plan and lists its actions in execution and in show-plan order', async () => {
      expect(await catalog.planReport.summary({ planId: 999, topGroups: 5 })).toBeUndefined();
      const s = (await catalog.planReport.summary({ planId: 1, topGroups: 5 }))!;
      expect(s.plan.name).toBe('everything');
      expect(s.mode).toBe('hardlink');
      const total = s.actionCounts.reduce((n, c) => n + c.n, 0);
      const ids: number[] = [];
      for await (const page of catalog.planReport.actions({
        planId: 1,
        order: { kind: 'execution' },
        pageSize: 2,
      })) {
        expect(page.length).toBeLessThanOrEqual(2);
        ids.push(...page.map((a) => a.id));
      }
      expect(ids).toHaveLength(total);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      const top = [];
      for await (const page of catalog.planReport.actions({
        planId: 1,
        order: { kind: 'top', limit: 2 },
        pageSize: 10,
      }))
        top.push(...page);
      // By the bytes each action saves: Y's one replacement, then one of X's two.
      expect(top.map((a) => [a.type, a.bytes])).toEqual([
        ['HARDLINK', 5000],
        ['HARDLINK', 3000],
      ]);
      expect(s.topGroups[0]!.bytesSaveable).toBe(6000);
      const everyTop = [];
      for await (const page of catalog.planReport.actions({
        planId: 1,
        order: { kind: 'top', limit: -1 },
        pageSize: 1,
      }))
        everyTop.push(...page);
      expect(everyTop).toHaveLength(total);
      Object.assign(out, { summary: s, top: everyTop.map((a) => a.id) });
    });
  });
});

describe.skipIf(pgQueryBackend.unavailable)('both backends', () => {
  it('return the same results, value for value', () => {
    const [sqlite, pg] = [seen.get('SQLite'), seen.get('PostgreSQL')];
    expect(Object.keys(pg ?? {}).sort()).toEqual(Object.keys(sqlite ?? {}).sort());
    expect(Object.keys(sqlite ?? {}).length).toBeGreaterThan(10);
    for (const key of Object.keys(sqlite!))
      expect(timeless(pg![key]), key).toEqual(timeless(sqlite![key]));
  });
});
