/**
 * The read-ahead of a prepared PostgreSQL listing (src/catalog/pg/read-ahead.ts): whatever
 * the page sizes and where a reader starts again, the pages are exactly those of the listing
 * read without it, and reading in order costs one fetch per 5,000 rows.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readAhead } from '../../src/catalog/pg/read-ahead.js';

/** A listing of n rows numbered 1..n, as row_number() gives them; counts its fetches. */
function listing(n: number) {
  const rows = Array.from({ length: n }, (_, i) => ({ rowId: i + 1 }));
  const fetches: number[] = [];
  const fetch = async (after: number, limit: number) => {
    fetches.push(limit);
    const from = rows.findIndex((r) => r.rowId > after);
    if (from < 0) return [];
    return rows.slice(from, limit < 0 ? undefined : from + limit);
  };
  return { rows, fetch, fetches };
}

describe('readAhead', () => {
  it('reads 12,345 rows 500 at a time in three fetches, page for page the same', async () => {
    const l = listing(12_345);
    const page = readAhead(l.fetch);
    const got: number[] = [];
    for (let after = 0; ;) {
      const p = await page(after, 500);
      if (p.length === 0) break;
      expect(p.length).toBeLessThanOrEqual(500);
      got.push(...p.map((r) => r.rowId));
      after = p[p.length - 1]!.rowId;
    }
    expect(got).toEqual(l.rows.map((r) => r.rowId));
    expect(l.fetches).toEqual([5000, 5000, 5000]);
  });

  it('any sequence of (after, limit) requests answers as the listing does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 12_000 }),
        fc.array(
          fc.record({
            after: fc.integer({ min: 0, max: 12_100 }),
            limit: fc.integer({ min: -1, max: 6_000 }),
            next: fc.boolean(),
          }),
          { maxLength: 30 },
        ),
        async (n, asks) => {
          const l = listing(n);
          const page = readAhead(l.fetch);
          let last = 0;
          for (const a of asks) {
            // Half the requests continue after the last page, as readers do.
            const after = a.next ? last : a.after;
            const got = await page(after, a.limit);
            expect(got).toEqual(await l.fetch(after, a.limit));
            if (got.length) last = got[got.length - 1]!.rowId;
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
