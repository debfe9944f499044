/**
 * Query plans the catalog's speed depends on, read with EXPLAIN QUERY PLAN on a real catalog:
 * a plan that regresses is a failure here, not a slow run noticed weeks later.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/open.js';
import { OWN_CTIMES_SQL } from '../../src/catalog/replacement.js';
import { UNHASHED_CANDIDATES_SQL } from '../../src/catalog/hashing.js';
import { DEFERRED_INDEXES } from '../../src/catalog/deferred-indexes.js';
import { PARKED_MOVES_SQL } from '../../src/catalog/tree.js';
import type { DB } from '../../src/catalog/db.js';

const dir = mkdtempSync(join(tmpdir(), 'hashall-qplan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the executor reads its own ctimes for a page of inodes', () => {
  it('one primary-key lookup per inode of the page, the page being the outer loop', async () => {
    const cat = openCatalog(join(dir, 'c.db'));
    try {
      const plan = cat.db.prepare(`EXPLAIN QUERY PLAN ${OWN_CTIMES_SQL}`).all('[[1,"5"]]', 1) as {
        id: number;
        parent: number;
        detail: string;
      }[];
      const steps = plan.map((r) => r.detail);
      // The list of inodes first (outer), then a point lookup in the table.
      expect(steps[0]).toMatch(/^SCAN j VIRTUAL TABLE/);
      expect(steps[1]).toBe('SEARCH s USING PRIMARY KEY (plan_id=? AND device_id=? AND inode=?)');
    } finally {
      await cat.close();
    }
  });
});

/**
 * Which `Column` reads of a statement's bytecode go to the `files` table itself (its b-tree,
 * found by root page), rather than to an index: each is a read of the row's page.
 */
function fileRowReads(db: DB, sql: string): number {
  const root = (
    db
      .prepare(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'files'`)
      .get() as {
      rootpage: number;
    }
  ).rootpage;
  const ops = db.prepare(`EXPLAIN ${sql}`).all() as { opcode: string; p1: number; p2: number }[];
  const tableCursors = new Set(
    ops.filter((o) => o.opcode === 'OpenRead' && o.p2 === root).map((o) => o.p1),
  );
  return ops.filter((o) => o.opcode === 'Column' && tableCursors.has(o.p1)).length;
}

/** files_unhashed as migrations 1–17 left it: by size only. */
const INDEX_BEFORE_18 = `DROP INDEX files_unhashed;
  CREATE INDEX files_unhashed ON files(size) WHERE status = 'active' AND prefix_hash IS NULL`;

describe('the candidate search over rows without a prefix hash', () => {
  it('tests each row from files_unhashed alone, never reading the row', async () => {
    const cat = openCatalog(join(dir, 'unhashed.db'));
    try {
      const plan = (
        cat.db.prepare(`EXPLAIN QUERY PLAN ${UNHASHED_CANDIDATES_SQL}`).all() as {
          detail: string;
        }[]
      ).map((r) => r.detail);
      expect(plan[0]).toMatch(/^SEARCH f USING INDEX files_unhashed /);
      expect(fileRowReads(cat.db, UNHASHED_CANDIDATES_SQL)).toBe(0);
      // The index before migration 18 (size only): each row's device and inode came from the
      // table, a page read per file that has a size of its own, on every scan and analyze.
      cat.db.exec(INDEX_BEFORE_18);
      expect(fileRowReads(cat.db, UNHASHED_CANDIDATES_SQL)).toBeGreaterThan(0);
    } finally {
      await cat.close();
    }
  });

  it('a catalog made before migration 18 gets the wider index when opened', async () => {
    const path = join(dir, 'old.db');
    const cat = openCatalog(path);
    cat.db.exec(INDEX_BEFORE_18);
    cat.db.pragma('user_version = 17');
    await cat.close();
    const again = openCatalog(path);
    try {
      const ix = again.db
        .prepare(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'files_unhashed'`)
        .get() as { sql: string };
      expect(ix.sql).toBe(DEFERRED_INDEXES.find((d) => d.name === 'files_unhashed')?.sql);
      expect(fileRowReads(again.db, UNHASHED_CANDIDATES_SQL)).toBe(0);
    } finally {
      await again.close();
    }
  });
});

describe("a finished scan's moves (rows inserted that a parked row's inode was)", () => {
  it('start from the parked rows, never from every active file', async () => {
    const cat = openCatalog(join(dir, 'moves.db'));
    try {
      cat.db.exec('CREATE TEMP TABLE IF NOT EXISTS gone_files (file_id INTEGER PRIMARY KEY)');
      const steps = (sql: string) =>
        (cat.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1) as { detail: string }[]).map(
          (r) => r.detail,
        );
      const plan = steps(PARKED_MOVES_SQL);
      // The parked rows are the outer loop, each a point lookup of its row in `files`.
      const materialize = plan.indexOf('MATERIALIZE o');
      expect(plan[materialize + 1]).toBe('SCAN g');
      expect(plan[materialize + 2]).toBe('SEARCH f USING INTEGER PRIMARY KEY (rowid=?)');
      expect(plan.filter((s) => /^SCAN f\b/.test(s))).toEqual([]);
      // As it was written before: the planner scanned every active file to probe the parked.
      const before = steps(PARKED_MOVES_SQL.replace('CROSS JOIN', 'JOIN'));
      expect(before.filter((s) => /^SCAN f\b/.test(s))).toHaveLength(1);
    } finally {
      await cat.close();
    }
  });
});
