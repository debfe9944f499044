/**
 * analyze counts the groups of one owner/mode class where the catalog holds them and reads
 * only the others (src/conductor/analyze.ts, sameDeviceSavings), on both backends
 * (./query-backends.ts: a real SQLite catalog, a real PostgreSQL one in a throwaway cluster).
 *
 * The tree mixes what makes a group's saving differ from SQL's figure: a group with a copy of
 * another mode (the planner links only the copies that agree), one whose every inode has a link
 * outside the tree (blocked), one with a single pinned inode, and a tie in saving between a
 * counted and a planned group. The figures must be those of planning every group (what analyze
 * did before, reached here through an active filter that lets every group through), and the
 * groups of one class must not be read one by one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, linkSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type * as ScannerMod from '../../src/scan/scanner.js';
import { sameDeviceSavings, type Planning } from '../../src/conductor/analyze.js';
import { DEFAULT_KEEP } from '../../src/conductor/keep-rules.js';
import { Filters } from '../../src/conductor/filters.js';
import { groupOptions } from '../../src/conductor/plan.js';
import { Scope } from '../../src/conductor/scope.js';
import { ALL_ROWS, type GroupClasses, type GroupQueries } from '../../src/catalog/query-port.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import {
  pgQueryBackend,
  sqliteQueryBackend,
  type QueryOpened,
  type QueryTestCatalog,
} from '../helpers/query-backends.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { runScan } = (await import(dist('scan/scanner.js'))) as typeof ScannerMod;

const fill = (letter: string, n: number) => letter.repeat(n);

let dir: string;
let root: string;

beforeAll(() => {
  dir = realpathSync(tempDir('hashall-analyze-classes-'));
  root = join(dir, 'tree');
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  writeTree(root, {
    // A: one class, three copies: 8,000 B.
    a1: fill('a', 4000),
    a2: fill('a', 4000),
    a3: fill('a', 4000),
    // B: b2 has another mode; SQL says 6,000 B, the planner links b3 to b1 only: 3,000 B.
    b1: fill('b', 3000),
    b2: fill('b', 3000),
    b3: fill('b', 3000),
    // C: both inodes have a link outside the tree: nothing can be freed (blocked).
    c1: fill('c', 2000),
    c2: fill('c', 2000),
    // D: one class, 3,000 B: the same saving as B once planned (a tie broken by listing order).
    d1: fill('d', 3000),
    d2: fill('d', 3000),
    // E: two copies of two modes: the planner links nothing.
    e1: fill('e', 2500),
    e2: fill('e', 2500),
    // F: one of two inodes pinned by a link outside: 1,000 B.
    f1: fill('f', 1000),
    f2: fill('f', 1000),
  });
  chmodSync(join(root, 'b2'), 0o600);
  chmodSync(join(root, 'e2'), 0o600);
  linkSync(join(root, 'c1'), join(outside, 'c1'));
  linkSync(join(root, 'c2'), join(outside, 'c2'));
  linkSync(join(root, 'f1'), join(outside, 'f1'));
});

afterAll(() => {
  if (dir) removeTree(dir);
});

describe.each([sqliteQueryBackend, pgQueryBackend])('analyze on $name', (backend) => {
  if (backend.unavailable) {
    it.skip(`skipped: ${backend.unavailable}`, () => undefined);
    return;
  }

  let opened: QueryOpened;
  let catalog: QueryTestCatalog;

  beforeAll(async () => {
    await backend.setup();
    const own = join(dir, backend.name);
    mkdirSync(own);
    opened = await backend.open(own);
    catalog = opened.catalog;
    const s = await runScan(catalog, { roots: [root], jobs: 1 });
    expect(s.errors).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
    backend.teardown();
  });

  /** The catalog's group queries, counting the groups each kind of page hands out. */
  function counting(): { groups: GroupQueries; read: Record<GroupClasses | 'every', number> } {
    const read = { every: 0, one: 0, several: 0 };
    const groups: GroupQueries = {
      ...catalog.groups,
      async sameDevice(q) {
        const l = await catalog.groups.sameDevice(q);
        return {
          ...l,
          async page(after, limit) {
            const rows = await l.page(after, limit);
            read.every += rows.length;
            return rows;
          },
          async pageOf(classes, after, limit) {
            const rows = await l.pageOf(classes, after, limit);
            read[classes] += rows.length;
            return rows;
          },
        };
      },
    };
    return { groups, read };
  }

  /** Keep rules as the CLI passes them, with an active filter that lets every group through. */
  const everyGroupPlanned = async (): Promise<Planning> => {
    const filters = Filters.parse({ minSize: '1' });
    return {
      keep: DEFAULT_KEEP,
      filters,
      group: groupOptions({ devices: await catalog.devices.list(), filters, scope: Scope.all }),
      scope: ALL_ROWS,
    };
  };

  it('the catalog counts the groups of one class with their pinned inodes', async () => {
    const l = await catalog.groups.sameDevice({ scope: ALL_ROWS });
    // One class: A, C (blocked), D, F.
    expect(l.oneClass).toEqual({ groups: 3, blocked: 1, saveable: 8000 + 3000 + 1000, pinned: 3 });
    const several = await l.pageOf('several', 0, 10);
    expect(several.map((g) => g.size).sort()).toEqual([2500, 3000]);
    expect(several.every((g) => g.classes === 2)).toBe(true);
    const one = await l.pageOf('one', 0, 10);
    expect(one.map((g) => g.size)).toEqual([4000, 3000, 1000, 2000]);
    // Each kind in listing order, a page after the last row id.
    expect((await l.pageOf('one', one[0]!.rowId, 1)).map((g) => g.size)).toEqual([3000]);
  });

  it.each([1, 2, 3, -1])(
    'limit %i: the same figures as planning every group, reading only the mixed ones',
    async (limit) => {
      const reference = await sameDeviceSavings(catalog, {
        deviceId: undefined,
        limit,
        planning: await everyGroupPlanned(),
      });
      const { groups, read } = counting();
      const counted = await sameDeviceSavings(
        { groups },
        {
          deviceId: undefined,
          limit,
          planning: {
            ...(await everyGroupPlanned()),
            filters: Filters.none,
          },
        },
      );
      const figures = (a: typeof counted) => ({
        groups: a.groups,
        bytes: a.bytesSaveable,
        blocked: a.blockedGroups,
        pinned: a.pinnedInodes,
        top: a.top.map((g) => [g.rowId, g.size, g.saveable]),
      });
      expect(figures(counted)).toEqual(figures(reference));
      // A 8,000; B (planned) 3,000 ties D 3,000 and comes first (listed first); F 1,000.
      expect(counted.groups).toBe(4);
      expect(counted.bytesSaveable).toBe(8000 + 3000 + 3000 + 1000);
      const sizes = [4000, 3000, 3000, 1000];
      expect(counted.top.map((g) => g.size)).toEqual(limit < 0 ? sizes : sizes.slice(0, limit));
      expect(counted.top[1]?.classes ?? 2).toBe(2);
      expect(read.every).toBe(0);
      expect(read.several).toBe(2);
      expect(read.one).toBeLessThanOrEqual(limit < 0 ? 4 : limit);
    },
  );
});
