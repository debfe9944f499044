/**
 * The stored totals on PostgreSQL (their migration in src/catalog/pg/schema.ts): built from the
 * rows of a catalog made before them, and kept honest by the statement-level triggers that mark
 * dirty group keys and devices — the tables a PostgreSQL read side will fold and read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_MIGRATIONS } from '../../src/catalog/pg/schema.js';
import { pgUnavailableReason, requirePg, startPgCluster, type PgCluster } from '../helpers/pg.js';

let cluster: PgCluster | undefined;
let db: string;

const SHA_A = '\\xaa';
const SHA_B = '\\xbb';

async function q<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
  return (await cluster!.admin<T>(sql, undefined, db)).rows;
}

const dirtyKeys = async () =>
  (
    await q<{ k: string }>(
      `SELECT device_id || ':' || encode(sha256, 'hex') || ':' || size AS k FROM group_dirty ORDER BY 1`,
    )
  ).map((r) => r.k);
const dirtyDevices = async () =>
  (await q<{ d: string }>('SELECT device_id AS d FROM usage_dirty ORDER BY 1')).map((r) =>
    Number(r.d),
  );

describe('stored totals on PostgreSQL', () => {
  beforeAll(async () => {
    if (pgUnavailableReason() && process.env.HASHALL_REQUIRE_PG !== '1') return;
    cluster = await startPgCluster();
    db = await cluster.createDatabase();
  });
  afterAll(() => {
    cluster?.stop();
  });

  it('are built from the rows by the migration, then triggers mark what each change touches', async (ctx) => {
    requirePg(ctx);
    await q(PG_MIGRATIONS[0]!);
    await q(`INSERT INTO devices (id, identity, identity_stable, alias, fs_type, st_dev, mount_point,
                                  mount_root, first_seen_at, last_seen_at)
             VALUES (1, 'x', 1, 'root', 'ext4', 1, '\\x2f', '\\x2f', 0, 0);
             INSERT INTO scans (id, root, started_at, status) VALUES (1, '\\x2f', 0, 'completed');
             INSERT INTO dirs (id, device_id, path, status) VALUES (1, 1, '\\x2f', 'active');`);
    const file = (id: number, inode: number, nlink: number, sha: string | null, size = 100) =>
      `(${id}, 1, 1, '\\x${id.toString(16).padStart(2, '0')}', ${inode}, ${nlink}, ${size}, 0, 0,
        33188, 0, 0, 8, ${sha === null ? 'NULL' : `'${sha}'`}, 'active', 1, 1)`;
    const insert = (rows: string[]) =>
      q(`INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns,
                            mode, uid, gid, blocks, sha256, status, first_seen_scan, changed_scan)
         VALUES ${rows.join(', ')}`);
    // Content A on inodes 10 (two paths) and 11 (nlink 2, one path known: pinned); B alone.
    await insert([
      file(1, 10, 2, SHA_A),
      file(2, 10, 2, SHA_A),
      file(3, 11, 2, SHA_A),
      file(4, 12, 1, SHA_B),
    ]);
    // Every migration before the stored totals' (found by content, not number), then theirs.
    const ours = PG_MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE group_totals'));
    expect(ours).toBeGreaterThan(0);
    for (const m of PG_MIGRATIONS.slice(1, ours)) await q(m);
    await q(PG_MIGRATIONS[ours]!);
    expect(
      await q(
        `SELECT device_id::int, encode(sha256, 'hex') AS sha, size::int, inodes::int, paths::int,
                pinned::int, classes::int, saveable::int FROM group_totals`,
      ),
    ).toEqual([
      {
        device_id: 1,
        sha: 'aa',
        size: 100,
        inodes: 2,
        paths: 3,
        pinned: 1,
        classes: 1,
        saveable: 100,
      },
    ]);
    expect(
      await q(
        'SELECT device_id::int, files::int, inodes::int, bytes::int, allocated::int FROM usage_totals',
      ),
    ).toEqual([{ device_id: 1, files: 4, inodes: 3, bytes: 300, allocated: 3 * 8 * 512 }]);
    expect(await dirtyKeys()).toEqual([]);
    expect(await dirtyDevices()).toEqual([]);

    // A first scan's kind of insert (unhashed): usage only.
    await insert([file(5, 13, 1, null)]);
    expect(await dirtyKeys()).toEqual([]);
    expect(await dirtyDevices()).toEqual([1]);
    await q('DELETE FROM usage_dirty');

    // Hashing it as B: B's key. A change of times only: nothing.
    await q(`UPDATE files SET sha256 = '${SHA_B}' WHERE id = 5`);
    expect(await dirtyKeys()).toEqual(['1:bb:100']);
    expect(await dirtyDevices()).toEqual([]);
    await q('DELETE FROM group_dirty');
    await q('UPDATE files SET mtime_ns = 5, ctime_ns = 5 WHERE id = 4');
    expect(await dirtyKeys()).toEqual([]);

    // Execute's replacement: inode and link count of a path change (A's key, and usage).
    await q('UPDATE files SET inode = 10, nlink = 3 WHERE id = 3');
    expect(await dirtyKeys()).toEqual(['1:aa:100']);
    expect(await dirtyDevices()).toEqual([1]);
    await q('DELETE FROM group_dirty; DELETE FROM usage_dirty');

    // A deletion by the scan (status) and a row removed outright.
    await q(`UPDATE files SET status = 'deleted' WHERE id = 4`);
    expect(await dirtyKeys()).toEqual(['1:bb:100']);
    await q('DELETE FROM group_dirty; DELETE FROM usage_dirty');
    await q('DELETE FROM files WHERE id = 1');
    expect(await dirtyKeys()).toEqual(['1:aa:100']);
    expect(await dirtyDevices()).toEqual([1]);
  });
});
