/**
 * The read side through the catalog port (src/catalog/query-port.ts) on a real SQLite catalog
 * that the real CLI filled by scanning a small tree: groups and analyze, the dupes listing a
 * page at a time (with its path budget), stats, the export cursor, and a plan's report.
 * Nothing is mocked; the expected figures follow from the tree written here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../../src/catalog/port.js';
import { openCatalog } from '../../src/catalog/open.js';
import { ALL_ROWS, type RowScope } from '../../src/catalog/query-port.js';
import { analyze, status } from '../../src/conductor/analyze.js';
import { iterateDupes } from '../../src/conductor/dupes.js';
import { resolveScope } from '../../src/conductor/scope.js';
import { rowScope } from '../../src/conductor/group-view.js';
import { Filters } from '../../src/conductor/filters.js';
import type { Scope } from '../../src/conductor/scope.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

/** n bytes of one repeated letter: contents differ by letter and by size. */
const fill = (letter: string, n: number) => letter.repeat(n);

// X: three copies (3,000 B), Y: two copies (5,000 B), Z: an inode with two links plus a copy
// (700 B). Savings: X 6,000, Y 5,000, Z 700 — the listing order.
const X = fill('x', 3000);
const Y = fill('y', 5000);
const Z = fill('z', 700);

let dir: string;
let root: string;
let cat: string;
let opened: ReturnType<typeof openCatalog>;
let catalog: Catalog;
let scopeA: Scope;

beforeAll(async () => {
  dir = tempDir('hashall-query-port-');
  root = join(dir, 'tree');
  cat = join(dir, 'catalog.db');
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
  const s = hashall(['scan', root, '--catalog', cat, '--quiet']);
  expect(s.code, s.stderr).toBe(0);
  const p = hashall(['conductor', 'plan', 'everything', '--catalog', cat, '--quiet']);
  expect(p.code, p.stderr).toBe(0);
  opened = openCatalog(cat, { readonly: true });
  catalog = opened;
  scopeA = await resolveScope(opened, [Buffer.from(join(root, 'a'))]);
});

afterAll(() => {
  opened?.db.close();
  if (dir) removeTree(dir);
});

const names = (paths: readonly { path: Buffer }[]) =>
  paths.map((p) => p.path.toString().slice(p.path.toString().lastIndexOf('/') + 1)).sort();

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
    expect(await catalog.groups.hardlinks({})).toEqual({
      sharedPaths: 2,
      inodes: 1,
      bytesSaved: 700,
    });
    expect(await catalog.groups.emptyFiles({ scope: ALL_ROWS })).toBe(2);
  });

  it('a scope keeps only the rows below its directories', async () => {
    const a: RowScope = rowScope(scopeA);
    expect(a.kind).toBe('dirs');
    const g = await catalog.groups.sameDevice({ scope: a });
    // Only x1 and x2 share a content inside a/.
    expect({ groups: g.groups, saveable: g.saveable }).toEqual({ groups: 1, saveable: 3000 });
    expect(await catalog.groups.emptyFiles({ scope: a })).toBe(1);
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
  });
});

describe('dupes', () => {
  it('pages hold at most `groups` groups and, past the first, at most `paths` paths', async () => {
    const listing = await catalog.dupes.prepare({ crossDevice: false, scope: ALL_ROWS });
    expect(listing.groups).toBe(3);
    const walk: string[][][] = [];
    for (let after = 0; ;) {
      const page = await listing.page({ afterRowId: after, groups: 10, paths: 3 });
      if (page.length === 0) break;
      walk.push(page.map((g) => names(g.paths)));
      after = page[page.length - 1]!.key.rowId;
    }
    // X fills the budget alone; Y (2) then Z (3) would exceed it together: one page each.
    expect(walk).toEqual([[['x1', 'x2', 'x3']], [['y1', 'y2']], [['z1', 'z1link', 'z2']]]);
    const all = await listing.page({ afterRowId: 0, groups: 2, paths: 100 });
    expect(all.map((g) => g.key.size)).toEqual([3000, 5000]);
  });

  it('applies size bounds in the query, and iterateDupes lists the groups with their links', async () => {
    const small = await catalog.dupes.prepare({
      crossDevice: false,
      scope: ALL_ROWS,
      maxSize: 3000,
    });
    expect(small.groups).toBe(2);
    const groups = [];
    for await (const page of iterateDupes(catalog, { crossDevice: false })) groups.push(...page);
    expect(groups.map((g) => [g.no, g.size, g.files, g.entries.length, g.bytesSaveable])).toEqual([
      [1, 3000, 3, 3, 6000],
      [2, 5000, 2, 2, 5000],
      [3, 700, 2, 3, 700],
    ]);
    const z = groups[2]!.entries;
    expect(z.map((e) => [e.linkIndex, e.links])).toEqual([
      [0, 1],
      [0, 2],
      [1, 2],
    ]);
    const limited = [];
    for await (const page of iterateDupes(catalog, { crossDevice: false, scope: scopeA, limit: 5 }))
      limited.push(...page);
    expect(limited.map((g) => names(g.entries))).toEqual([['x1', 'x2']]);
    const two = [];
    for await (const page of iterateDupes(catalog, { crossDevice: false, limit: 2 }))
      two.push(...page);
    expect(two.map((g) => g.size)).toEqual([3000, 5000]);
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
    expect(await catalog.stats.integrityProblems({ max: 10 })).toEqual([]);
  });

  it('export comes in pages; leaving early closes its cursor', async () => {
    const sizes: number[] = [];
    let rows = 0;
    for await (const page of catalog.export.files({ pageSize: 4 })) {
      sizes.push(page.length);
      rows += page.length;
    }
    expect(sizes).toEqual([4, 4, 3]);
    expect(rows).toBe(11);
    const own = openCatalog(cat, { readonly: true });
    for await (const page of own.export.files({ pageSize: 2 })) {
      expect(page).toHaveLength(2);
      break;
    }
    // A cursor left open keeps the connection busy: it could not be closed.
    expect(() => own.db.close()).not.toThrow();
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
  });
});
