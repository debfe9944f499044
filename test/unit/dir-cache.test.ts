import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirCache } from '../../src/fs/dir-cache.js';
import { FD_MARGIN, fdBudget, MAX_BATCH, MAX_DIR_CACHE } from '../../src/conductor/fd-budget.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const openFds = () => readdirSync('/proc/self/fd').length;

describe('the executor descriptor budget', () => {
  it('fits the batch, what it pins and closes, and the cache inside the limit', () => {
    for (const limit of [128, 256, 1024, 4096, 20_000, 1_048_576]) {
      const inUse = 30;
      const b = fdBudget(limit, inUse)!;
      expect(b.batch).toBeGreaterThanOrEqual(1);
      expect(b.batch).toBeLessThanOrEqual(MAX_BATCH);
      expect(b.dirCache).toBeGreaterThanOrEqual(2);
      expect(b.dirCache).toBeLessThanOrEqual(MAX_DIR_CACHE);
      // 2 file fds + 2 pinned directories per batch action, up to 2 batches' targets closing.
      expect(inUse + FD_MARGIN + 6 * b.batch + b.dirCache).toBeLessThanOrEqual(limit);
    }
    expect(fdBudget(1_048_576, 30)).toMatchObject({ batch: MAX_BATCH, dirCache: MAX_DIR_CACHE });
    expect(fdBudget(undefined, 30)).toMatchObject({ batch: MAX_BATCH, dirCache: MAX_DIR_CACHE });
  });

  it('refuses a limit that leaves no room for one action', () => {
    expect(fdBudget(64, 30)).toBeUndefined();
    expect(fdBudget(30 + FD_MARGIN + 6 + 2, 30)).toMatchObject({ batch: 1, dirCache: 2 });
  });
});

describe('the executor directory cache', () => {
  let root: string;
  const dirs: string[] = [];
  beforeAll(() => {
    root = tempDir('hashall-dircache-');
    for (let i = 0; i < 200; i++) {
      const d = join(root, `a${i}`, 'deep', 'er');
      mkdirSync(d, { recursive: true });
      dirs.push(d);
    }
  });
  afterAll(() => removeTree(root));

  it('never holds more than its capacity plus the pinned directories', () => {
    const before = openFds();
    const cache = new DirCache(8);
    const pinned = dirs.slice(0, 20).map((d) => {
      const v = cache.get(Buffer.from(d));
      cache.pin(v);
      return v;
    });
    for (const d of dirs) {
      cache.get(Buffer.from(d));
      expect(openFds() - before).toBeLessThanOrEqual(8 + 20);
    }
    // Pinned directories stay open and usable; once unpinned they are trimmed.
    for (const d of pinned) expect(readdirSync(d.child(Buffer.from('.'))).length).toBe(0);
    for (const d of pinned) cache.unpin(d);
    cache.trim();
    expect(openFds() - before).toBeLessThanOrEqual(8);
    cache.closeAll();
    expect(openFds()).toBe(before);
  });
});
