/**
 * A directory's listing fingerprint is forgotten by any write to what a rescan compares in one
 * of its file rows (migration 13), and the trigger that does it costs one indexed update per
 * directory (migration 19: its `IN (…)` list built an ephemeral table on every firing). On a
 * real catalog whose rows are written here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.js';
import { openCatalog } from '../../src/catalog/open.js';
import type { DB } from '../../src/catalog/db.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

/** Migration 13's trigger, as catalogs made before migration 19 hold it. */
const TRIGGER_BEFORE_19 = `
  DROP TRIGGER files_forget_listing_fp;
  CREATE TRIGGER files_forget_listing_fp
    AFTER UPDATE OF dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, blocks, status
    ON files
  BEGIN
    UPDATE dirs SET listing_fp = NULL WHERE id IN (OLD.dir_id, NEW.dir_id) AND listing_fp IS NOT NULL;
  END;`;

function catalog(path: string) {
  const cat = openCatalog(path);
  cat.db.exec(`
    INSERT INTO devices (id, identity, identity_stable, alias, fs_type, st_dev, mount_point, mount_root, first_seen_at, last_seen_at)
      VALUES (1, 'a', 1, 'a', 'tmpfs', 1, X'2f', X'2f', 0, 0);
    INSERT INTO scans (id, root, started_at, status) VALUES (1, X'2f', 0, 'completed');
    INSERT INTO dirs (id, device_id, parent_id, path, status) VALUES
      (1, 1, NULL, X'2f', 'active'), (2, 1, 1, CAST('/x' AS BLOB), 'active'),
      (3, 1, 1, CAST('/y' AS BLOB), 'active');
    INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode,
                       uid, gid, blocks, status, first_seen_scan, changed_scan)
      VALUES (1, 1, 1, CAST('r' AS BLOB), 10, 1, 5, 1, 1, 33188, 0, 0, 8, 'active', 1, 1),
             (2, 1, 2, CAST('x1' AS BLOB), 11, 1, 5, 1, 1, 33188, 0, 0, 8, 'active', 1, 1),
             (3, 1, 2, CAST('x2' AS BLOB), 12, 1, 5, 1, 1, 33188, 0, 0, 8, 'active', 1, 1),
             (4, 1, 3, CAST('y1' AS BLOB), 13, 1, 5, 1, 1, 33188, 0, 0, 8, 'active', 1, 1);
  `);
  return cat;
}

/** Every directory fingerprinted again; then the write; then which directories forgot theirs. */
function forgotten(db: DB, write: string): number[] {
  db.exec(`UPDATE dirs SET listing_fp = zeroblob(32)`);
  db.exec(write);
  return db
    .prepare(`SELECT id FROM dirs WHERE listing_fp IS NULL ORDER BY id`)
    .pluck()
    .all() as number[];
}

function behaves(db: DB): void {
  // A link count, an inode, a ctime: the row's own directory, no other.
  expect(forgotten(db, `UPDATE files SET nlink = 2 WHERE id = 2`)).toEqual([2]);
  expect(forgotten(db, `UPDATE files SET inode = 12, ctime_ns = 5 WHERE id = 2`)).toEqual([2]);
  // Rows of two directories in one statement (an inode's link count, as execute writes it).
  expect(forgotten(db, `UPDATE files SET nlink = 3 WHERE id IN (1, 4)`)).toEqual([1, 3]);
  // A move: both directories.
  expect(forgotten(db, `UPDATE files SET dir_id = 3 WHERE id = 3`)).toEqual([2, 3]);
  // What a rescan does not compare (the hashes): nothing.
  expect(forgotten(db, `UPDATE files SET sha256 = zeroblob(32) WHERE id = 2`)).toEqual([]);
  // A deleted row: its directory.
  expect(forgotten(db, `DELETE FROM files WHERE id = 1`)).toEqual([1]);
}

function triggerSql(db: DB): string {
  return db
    .prepare(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?`)
    .pluck()
    .get('files_forget_listing_fp') as string;
}

describe('the listing fingerprint trigger', () => {
  it('forgets the fingerprint of the directories whose rows a write changes, and only theirs', async () => {
    const d = tempDir();
    dirs.push(d);
    const cat = catalog(join(d, 'c.db'));
    try {
      behaves(cat.db);
      expect(triggerSql(cat.db)).not.toMatch(/\bIN\s*\(/i);
    } finally {
      await cat.close();
    }
  });

  it('a catalog made before migration 19 gets the one-directory-per-statement trigger when opened', async () => {
    const d = tempDir();
    dirs.push(d);
    const path = join(d, 'old.db');
    const old = catalog(path);
    const fresh = triggerSql(old.db);
    old.db.exec(TRIGGER_BEFORE_19);
    old.db.pragma('user_version = 18');
    expect(triggerSql(old.db)).toMatch(/\bIN\s*\(/i);
    await old.close();
    const again = openCatalog(path);
    try {
      expect(again.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(triggerSql(again.db)).toBe(fresh);
      behaves(again.db);
    } finally {
      await again.close();
    }
  });
});
