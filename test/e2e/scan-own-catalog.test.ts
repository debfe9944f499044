/**
 * A SQLite catalog inside the tree it scans (`~/.hashall/catalog.db` under a scan of /home):
 * its files (the database, its WAL and shared memory) are never catalogued (src/scan/own-files.ts).
 * They change while the scan runs, so every rescan found them changed; and a byte-for-byte copy
 * of the catalog made beside it (a backup before an upgrade) made the live catalog a duplicate,
 * which a plan could offer to replace with a link to the copy.
 */
import { copyFileSync, mkdirSync, realpathSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { readCatalog } from '../helpers/catalog.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

interface ScanJson {
  files: number;
  new: number;
  changed: number;
  unchanged: number;
  deleted: number;
  skipped: Record<string, number>;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

function workDir(): string {
  const d = realpathSync(tempDir('hashall-own-'));
  dirs.push(d);
  return d;
}

function scan(root: string, cat: string): ScanJson {
  const r = hashall(['scan', root, '--catalog', cat, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.json<ScanJson>();
}

/** Names of the catalog's rows in `status`, sorted. */
function names(cat: string, status: 'active' | 'deleted'): string[] {
  return readCatalog(cat, (db) =>
    (
      db.prepare('SELECT name FROM files WHERE status = ? ORDER BY name').all(status) as {
        name: Buffer;
      }[]
    ).map((r) => r.name.toString()),
  );
}

const SAME = 'the same bytes\n'.repeat(100);

describe('the catalog inside the tree it scans', () => {
  it('is never catalogued, and a rescan finds nothing changed', () => {
    const tree = workDir();
    writeTree(tree, { 'a.txt': SAME, 'b.txt': SAME, 'sub/c.txt': 'other\n' });
    const cat = join(tree, 'catalog.db');
    const first = scan(tree, cat);
    expect(first.files).toBe(3);
    // The database, its WAL and its shared memory: all there while the scan runs.
    expect(first.skipped.catalog).toBe(3);
    expect(names(cat, 'active')).toEqual(['a.txt', 'b.txt', 'c.txt']);
    const again = scan(tree, cat);
    expect(again).toMatchObject({ files: 3, new: 0, changed: 0, unchanged: 3, deleted: 0 });
    expect(again.skipped.catalog).toBe(3);
  });

  it('a copy of the catalog beside it is a file like any other; the live one is never its duplicate', () => {
    const tree = workDir();
    writeTree(tree, { 'a.txt': SAME });
    const cat = join(tree, 'catalog.db');
    scan(tree, cat);
    // A backup made with no process in the catalog: the same bytes as the live file.
    const db = new Database(cat);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    copyFileSync(cat, join(tree, 'catalog.db.bak'));
    copyFileSync(cat, join(tree, 'catalog.db.bak2'));
    scan(tree, cat);
    expect(names(cat, 'active')).toEqual(['a.txt', 'catalog.db.bak', 'catalog.db.bak2']);
    const plan = hashall(['conductor', 'plan', 'p', '--catalog', cat, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const show = hashall([
      'conductor',
      'show-plan',
      '1',
      '--catalog',
      cat,
      '--json',
      '--limit',
      '0',
    ]);
    expect(show.code, show.stderr).toBe(0);
    // The copies may be linked to each other; the live catalog is in no action.
    expect(show.stdout).toContain('catalog.db.bak');
    expect(show.stdout).not.toMatch(/catalog\.db"/);
  });

  it("a row an older hashall made of the catalog's own file is marked deleted", () => {
    const tree = workDir();
    // An older hashall catalogued its own file: here, a catalog made elsewhere of a tree that
    // holds a file of the catalog's name, then moved over that file.
    writeTree(tree, { 'a.txt': SAME, 'catalog.db': 'a file in its place\n' });
    const elsewhere = join(workDir(), 'catalog.db');
    scan(tree, elsewhere);
    renameSync(elsewhere, join(tree, 'catalog.db'));
    const cat = join(tree, 'catalog.db');
    expect(names(cat, 'active')).toEqual(['a.txt', 'catalog.db']);
    const s = scan(tree, cat);
    expect(s.deleted).toBe(1);
    expect(names(cat, 'active')).toEqual(['a.txt']);
    expect(names(cat, 'deleted')).toEqual(['catalog.db']);
  });

  it('only its own files: the same names elsewhere, and a catalog reached through a symlink', () => {
    const tree = workDir();
    writeTree(tree, {
      'a.txt': SAME,
      'other/catalog.db': SAME,
      'other/catalog.db-wal': 'x\n',
    });
    mkdirSync(join(tree, 'real'));
    symlinkSync(join(tree, 'real'), join(tree, 'link'));
    // Given through the link; the walk meets the real directory and skips the files there.
    const cat = join(tree, 'link', 'catalog.db');
    const s = scan(tree, cat);
    expect(s.skipped.catalog).toBe(3);
    expect(names(cat, 'active')).toEqual(['a.txt', 'catalog.db', 'catalog.db-wal']);
  });
});
