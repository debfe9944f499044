/**
 * SQLite migration 20: the suffix digest's column, added to a catalog from before it (its rows
 * kept, each without a suffix), and a step that runs again harmlessly on a catalog that has it
 * (tests of older catalogs set user_version back).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SCHEMA_VERSION } from '../../src/catalog/migrations.js';
import { openCatalog } from '../../src/catalog/open.js';
import type { DB } from '../../src/catalog/db.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const columns = (db: DB) =>
  (db.pragma('table_info(files)') as { name: string }[]).map((c) => c.name);

describe('SQLite migration 20 (suffix_hash)', () => {
  const dir = tempDir();
  afterAll(() => removeTree(dir));

  it('adds the column to a catalog from before it, keeping its rows; runs again harmlessly', async () => {
    const path = join(dir, 'old.db');
    const old = openCatalog(path);
    expect(columns(old.db)).toContain('suffix_hash');
    // One file row (its device and directory rows are not what this is about).
    old.db.pragma('foreign_keys = OFF');
    old.db.exec(`INSERT INTO files (device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns,
                                    mode, uid, gid, prefix_hash, status, first_seen_scan, changed_scan)
                 VALUES (1, 1, x'61', 7, 1, 100000, 1, 1, 33188, 0, 0, x'00', 'active', 1, 1)`);
    // What a hashall before migration 20 left.
    old.db.exec('ALTER TABLE files DROP COLUMN suffix_hash');
    old.db.pragma('user_version = 19');
    await old.close();

    const again = openCatalog(path);
    try {
      expect(again.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(columns(again.db)).toContain('suffix_hash');
      expect(again.db.prepare('SELECT name, prefix_hash, suffix_hash FROM files').all()).toEqual([
        { name: Buffer.from('a'), prefix_hash: Buffer.from([0]), suffix_hash: null },
      ]);
      again.db.pragma('user_version = 19');
    } finally {
      await again.close();
    }
    const third = openCatalog(path);
    try {
      expect(third.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      await third.close();
    }
  });
});
