/**
 * `stats` counts what the scans covered (issue 12 §6.8): the ancestors of a root (/, /tmp, …,
 * kept only as the parents of its rows) were counted as directories, and overlapping roots
 * (/a and /a/b) must count each file and directory once.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

interface StatsJson {
  files: number;
  inodes: number;
  directories: number;
  last_scans: { root: string }[];
}

describe('stats over nested and overlapping roots', () => {
  let dir: string;
  let a: string;
  beforeAll(() => {
    dir = tempDir('hashall-stats-');
    a = join(dir, 'deep', 'er', 'a');
    // a, a/b, a/b/c, a/d: 4 directories, 5 files.
    writeTree(a, {
      'one.txt': '1',
      'b/two.txt': '2',
      'b/c/three.txt': '3',
      'b/c/four.txt': '4',
      'd/five.txt': '5',
    });
  });
  afterAll(() => removeTree(dir));

  const stats = (cat: string) => hashall(['stats', '--catalog', cat, '--json']).json<StatsJson>();
  const scan = (cat: string, root: string) =>
    expect(hashall(['scan', root, '--catalog', cat, '--quiet']).code).toBe(0);

  it('counts the directories at and below the root, not its ancestors', () => {
    const cat = join(dir, 'one.db');
    scan(cat, join(a, 'b'));
    expect(stats(cat)).toMatchObject({ files: 3, directories: 2 });
    scan(cat, a);
    expect(stats(cat)).toMatchObject({ files: 5, inodes: 5, directories: 4 });
  });

  it('counts each file and directory once when roots overlap, in either order', () => {
    for (const [name, roots] of [
      ['outer-first.db', [a, join(a, 'b'), a]],
      ['inner-first.db', [join(a, 'b'), a, join(a, 'b')]],
    ] as const) {
      const cat = join(dir, name);
      for (const r of roots) scan(cat, r);
      const s = stats(cat);
      expect(s).toMatchObject({ files: 5, inodes: 5, directories: 4 });
      expect(s.last_scans.map((l) => l.root).sort()).toEqual([a, join(a, 'b')]);
    }
  });
});
