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
