/**
 * files' references on PostgreSQL, checked per statement by triggers instead of five declared
 * foreign keys (src/catalog/pg/file-references.ts): the same guarantee — a file row names an
 * existing device, directory and scans; a referenced parent cannot be deleted, renumbered or
 * truncated away; a parent a writer referenced is locked until it commits — and catalog copy
 * and the schema comparison still see the references.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { pgCopySide } from '../../src/catalog/copy/pg-side.js';
import { FILE_REFERENCES_MIGRATION } from '../../src/catalog/pg/file-references.js';
import { connectMigrated } from '../../src/catalog/pg/migrate.js';
import { PG_MIGRATIONS } from '../../src/catalog/pg/schema.js';
import { pgUnavailableReason, requirePg, startPgCluster, type PgCluster } from '../helpers/pg.js';

let cluster: PgCluster | undefined;

const PARENTS = `
  INSERT INTO devices (id, identity, identity_stable, alias, fs_type, st_dev, mount_point,
                       mount_root, first_seen_at, last_seen_at)
  VALUES (1, 'x', 1, 'root', 'ext4', 1, '\\x2f', '\\x2f', 0, 0),
         (2, 'y', 1, 'spare', 'ext4', 2, '\\x2f6d', '\\x2f', 0, 0);
  INSERT INTO scans (id, root, started_at, status)
  VALUES (1, '\\x2f', 0, 'completed'), (2, '\\x2f', 0, 'completed'), (3, '\\x2f', 0, 'completed');
  INSERT INTO dirs (id, device_id, path, status)
  VALUES (1, 1, '\\x2f', 'active'), (2, 1, '\\x2f61', 'active'), (3, 1, '\\x2f62', 'active');`;

interface FileRow {
  id: number;
  device?: number;
  dir?: number;
  first?: number;
  changed?: number;
  deleted?: number | null;
}

const values = (f: FileRow) =>
  `(${f.id}, ${f.device ?? 1}, ${f.dir ?? 1}, '\\x${f.id.toString(16).padStart(4, '0')}', ${f.id},
    1, 10, 0, 0, 33188, 0, 0, 'active', ${f.first ?? 1}, ${f.changed ?? 1}, ${f.deleted ?? 'NULL'})`;
const insertFiles = (rows: FileRow[]) =>
  `INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode,
                      uid, gid, status, first_seen_scan, changed_scan, deleted_scan)
   VALUES ${rows.map(values).join(', ')}`;

/** A migrated catalog with devices 1–2, scans 1–3, dirs 1–3 and file 1 (device 1, dir 1, scan 1). */
async function catalog(): Promise<{ db: string; q: (sql: string) => Promise<unknown[]> }> {
  const db = await cluster!.createDatabase();
  const conn = await connectMigrated(cluster!.url(db));
  await conn.client.end();
  const q = async (sql: string) => (await cluster!.admin(sql, [], db)).rows;
  await q(PARENTS);
  await q(insertFiles([{ id: 1 }]));
  return { db, q };
}

async function failure(p: Promise<unknown>): Promise<pg.DatabaseError> {
  try {
    await p;
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('the statement succeeded');
}

describe("files' references on PostgreSQL (statement-level checks)", () => {
  beforeAll(async () => {
    if (pgUnavailableReason() && process.env.HASHALL_REQUIRE_PG !== '1') return;
    cluster = await startPgCluster();
  });
  afterAll(() => {
    cluster?.stop();
  });

  it('are no declared foreign keys on files (the per-row cost), and every other table keeps its own', async (ctx) => {
    requirePg(ctx);
    const { q } = await catalog();
    const fks = (await q(
      `SELECT conrelid::regclass::text AS t, count(*)::int AS n FROM pg_constraint
        WHERE contype = 'f' GROUP BY 1 ORDER BY 1`,
    )) as { t: string; n: number }[];
    expect(fks.find((r) => r.t === 'files')).toBeUndefined();
    expect(fks.find((r) => r.t === 'dirs')?.n).toBe(3);
    expect(fks.find((r) => r.t === 'conductor_actions')?.n).toBe(3);
  });

  it('an inserted file row naming a missing device, directory or scan fails with 23503 and leaves nothing', async (ctx) => {
    requirePg(ctx);
    const { q } = await catalog();
    const cases: [FileRow, string, string, number][] = [
      [{ id: 2, dir: 99 }, 'dir_id', 'dirs', 99],
      [{ id: 2, device: 98 }, 'device_id', 'devices', 98],
      [{ id: 2, first: 97 }, 'first_seen_scan', 'scans', 97],
      [{ id: 2, changed: 96 }, 'changed_scan', 'scans', 96],
      [{ id: 2, deleted: 95 }, 'deleted_scan', 'scans', 95],
    ];
    for (const [row, column, parent, id] of cases) {
      const err = await failure(q(insertFiles([row])));
      expect(err.code).toBe('23503');
      expect(err.message).toBe(
        `insert or update on table "files" violates foreign key constraint "files_${column}_fkey"`,
      );
      expect(err.detail).toBe(`Key (${column})=(${id}) is not present in table "${parent}".`);
      expect(err.column).toBe(column);
      expect(err.constraint).toBe(`files_${column}_fkey`);
    }
    expect(await q('SELECT id::int FROM files')).toEqual([{ id: 1 }]);
    // NULL references are fine (deleted_scan), as with a foreign key; existing ids are.
    await q(insertFiles([{ id: 2, device: 2, dir: 3, first: 2, changed: 3, deleted: null }]));
    await q(insertFiles([{ id: 3, deleted: 3 }]));
    expect(await q('SELECT count(*)::int AS n FROM files')).toEqual([{ n: 3 }]);
  });

  it('a multi-row insert with one bad row fails whole', async (ctx) => {
    requirePg(ctx);
    const { q } = await catalog();
    const rows: FileRow[] = Array.from({ length: 500 }, (_, i) => ({
      id: 10 + i,
      dir: 1 + (i % 3),
    }));
    rows[321] = { id: 331, dir: 1, changed: 42 };
    const err = await failure(q(insertFiles(rows)));
    expect(err.code).toBe('23503');
    expect(err.detail).toBe('Key (changed_scan)=(42) is not present in table "scans".');
    expect(await q('SELECT count(*)::int AS n FROM files')).toEqual([{ n: 1 }]);
    // The same insert from unnest (the scan's shape), all good: in.
    rows[321] = { id: 331, dir: 1, changed: 2 };
    await q(insertFiles(rows));
    expect(await q('SELECT count(*)::int AS n FROM files')).toEqual([{ n: 501 }]);
  });

  it('an update naming a missing parent fails; one keeping or changing to existing ids works', async (ctx) => {
    requirePg(ctx);
    const { q } = await catalog();
    await q(insertFiles([{ id: 2, dir: 2 }]));
    let err = await failure(q('UPDATE files SET dir_id = 77 WHERE id = 2'));
    expect(err.code).toBe('23503');
    expect(err.detail).toBe('Key (dir_id)=(77) is not present in table "dirs".');
    err = await failure(q('UPDATE files SET deleted_scan = 76, status = $$deleted$$'));
    expect(err.detail).toBe('Key (deleted_scan)=(76) is not present in table "scans".');
    err = await failure(q('UPDATE files SET device_id = 75 WHERE id = 1'));
    expect(err.detail).toBe('Key (device_id)=(75) is not present in table "devices".');
    // Two rows swapping their directories, a hash stage's update, a move to an existing dir.
    await q('UPDATE files SET dir_id = CASE id WHEN 1 THEN 2 ELSE 1 END');
    await q(`UPDATE files SET sha256 = '\\xaa'`);
    await q('UPDATE files SET dir_id = 3, changed_scan = 3 WHERE id = 1');
    expect(
      await q('SELECT id::int, dir_id::int, changed_scan::int FROM files ORDER BY id'),
    ).toEqual([
      { id: 1, dir_id: 3, changed_scan: 3 },
      { id: 2, dir_id: 1, changed_scan: 1 },
    ]);
  });

  it('deleting, renumbering or truncating a referenced device, directory or scan fails; an unreferenced one goes', async (ctx) => {
    requirePg(ctx);
    const { q } = await catalog();
    await q(insertFiles([{ id: 2, device: 2, dir: 2, first: 2, changed: 2, deleted: 3 }]));
    const refused: [string, string, string][] = [
      ['DELETE FROM dirs WHERE id IN (2, 3)', 'dirs', 'files_dir_id_fkey'],
      ['DELETE FROM scans WHERE id = 3', 'scans', 'files_deleted_scan_fkey'],
      ['DELETE FROM scans WHERE id = 2', 'scans', 'files_first_seen_scan_fkey'],
      // Device 2 holds no directory (dirs' declared key would answer first for device 1).
      ['DELETE FROM devices WHERE id = 2', 'devices', 'files_device_id_fkey'],
      ['UPDATE devices SET id = 11 WHERE id = 2', 'devices', 'files_device_id_fkey'],
      ['UPDATE dirs SET id = 12 WHERE id = 2', 'dirs', 'files_dir_id_fkey'],
      ['UPDATE scans SET id = 13 WHERE id = 1', 'scans', 'files_first_seen_scan_fkey'],
    ];
    for (const [sql, table, constraint] of refused) {
      const err = await failure(q(sql));
      expect(err.code, sql).toBe('23503');
      expect(err.constraint, sql).toBe(constraint);
      expect(err.message).toBe(
        `update or delete on table "${table}" violates foreign key constraint "${constraint}" on table "files"`,
      );
      expect(err.detail).toMatch(/^Key \(id\)=\(\d+\) is still referenced from table "files"\.$/);
    }
    let err = await failure(q('TRUNCATE dirs'));
    expect(err.code).toBe('23503');
    expect(err.message).toBe('cannot truncate table "dirs" while table "files" references it');
    err = await failure(q('TRUNCATE scans, dirs, scan_hosts, devices CASCADE'));
    expect(err.code).toBe('23503');
    expect(err.message).toMatch(/^cannot truncate table "\w+" while table "files" references it$/);
    expect(await q('SELECT count(*)::int AS n FROM files')).toEqual([{ n: 2 }]);
    expect(await q('SELECT count(*)::int AS n FROM dirs')).toEqual([{ n: 3 }]);
    // Unreferenced: dir 3, scan 3 and device 2 once file 2 no longer names them; non-key updates.
    await q('UPDATE files SET deleted_scan = NULL, device_id = 1 WHERE id = 2');
    await q('DELETE FROM dirs WHERE id = 3');
    await q('DELETE FROM scans WHERE id = 3');
    await q('DELETE FROM devices WHERE id = 2');
    await q(`UPDATE dirs SET status = 'deleted', listing_fp = '\\x01'`);
    await q(`UPDATE scans SET status = 'interrupted', id = id`);
    expect(await q('SELECT count(*)::int AS n FROM dirs')).toEqual([{ n: 2 }]);
    // With files emptied in the same statement, a truncate goes through.
    await q('TRUNCATE files, dirs, scans CASCADE');
    expect(await q('SELECT count(*)::int AS n FROM scans')).toEqual([{ n: 0 }]);
  });

  it('a parent a writer referenced is locked FOR KEY SHARE until it commits: a delete waits, then fails', async (ctx) => {
    requirePg(ctx);
    const { db, q } = await catalog();
    const writer = await cluster!.connect(db);
    const deleter = await cluster!.connect(db);
    try {
      await writer.query('BEGIN');
      await writer.query(insertFiles([{ id: 2, dir: 2 }]));
      // Dir 2 is referenced only by the uncommitted row: the delete must wait for the writer.
      await deleter.query(`SET lock_timeout = '300ms'`);
      const err = await failure(deleter.query('DELETE FROM dirs WHERE id = 2'));
      expect(err.code).toBe('55P03'); // lock_not_available: it waited
      await deleter.query('RESET lock_timeout');
      const waiting = deleter.query('DELETE FROM dirs WHERE id = 2');
      const caught = failure(waiting);
      await writer.query('COMMIT');
      const after = await caught;
      expect(after.code).toBe('23503');
      expect(after.constraint).toBe('files_dir_id_fkey');
      // And the other way: a parent deleted by an open transaction; the insert waits, then fails.
      await deleter.query('BEGIN');
      await deleter.query('DELETE FROM dirs WHERE id = 3');
      const inserting = failure(writer.query(insertFiles([{ id: 3, dir: 3 }])));
      await deleter.query('COMMIT');
      expect((await inserting).detail).toBe('Key (dir_id)=(3) is not present in table "dirs".');
    } finally {
      await writer.end();
      await deleter.end();
    }
    expect(await q('SELECT id::int FROM files ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('catalog copy sees the references (its insertion order), and only while every check is there', async (ctx) => {
    requirePg(ctx);
    const { db, q } = await catalog();
    const side = await pgCopySide(cluster!.url(db));
    try {
      const files = async () => (await side.tables()).find((t) => t.name === 'files')!;
      expect([...(await files()).references].sort()).toEqual(['devices', 'dirs', 'scans']);
      // A lost check is a lost reference: the parent side of dirs, of scans, then the child side.
      await q('ALTER TABLE dirs DISABLE TRIGGER dirs_ref_files_delete');
      expect([...(await files()).references].sort()).toEqual(['devices', 'scans']);
      await q('DROP TRIGGER scans_ref_files_truncate ON scans');
      expect([...(await files()).references].sort()).toEqual(['devices']);
      await q('DROP TRIGGER files_references_update ON files');
      expect((await files()).references).toEqual([]);
    } finally {
      await side.close();
    }
  });

  it('the migration keeps every row of a catalog made before it, then checks', async (ctx) => {
    requirePg(ctx);
    const db = await cluster!.createDatabase();
    const q = async (sql: string) => (await cluster!.admin(sql, [], db)).rows;
    const ours = PG_MIGRATIONS.indexOf(FILE_REFERENCES_MIGRATION);
    expect(ours).toBeGreaterThan(0);
    await q('CREATE TABLE hashall_schema (version bigint PRIMARY KEY, applied_at bigint NOT NULL)');
    for (const [i, m] of PG_MIGRATIONS.slice(0, ours).entries()) {
      await q(m);
      await q(`INSERT INTO hashall_schema VALUES (${i + 1}, 0)`);
    }
    await q(PARENTS);
    await q(insertFiles(Array.from({ length: 300 }, (_, i) => ({ id: i + 1, dir: 1 + (i % 3) }))));
    const before = await q('SELECT * FROM files ORDER BY id');
    expect(
      (
        await q(
          `SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'files'::regclass AND contype = 'f'`,
        )
      )[0],
    ).toEqual({ n: 5 });
    // The program's own migration run takes it to the current version.
    const conn = await connectMigrated(cluster!.url(db));
    await conn.client.end();
    // Every row as it was; a column a later migration adds (suffix_hash, 11) is NULL on each.
    const after = (await q('SELECT * FROM files ORDER BY id')) as Record<string, unknown>[];
    const added = Object.keys(after[0]!).filter((k) => !(k in before[0]!));
    expect(added).toEqual(['suffix_hash']);
    const without = (r: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(r).filter(([k]) => !added.includes(k)));
    expect(after.map(without)).toEqual(before);
    expect(after.every((r) => added.every((k) => r[k] === null))).toBe(true);
    expect(await q('SELECT max(version)::int AS v FROM hashall_schema')).toEqual([
      { v: PG_MIGRATIONS.length },
    ]);
    expect(
      (
        await q(
          `SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'files'::regclass AND contype = 'f'`,
        )
      )[0],
    ).toEqual({ n: 0 });
    expect((await failure(q(insertFiles([{ id: 400, dir: 9 }])))).code).toBe('23503');
    expect((await failure(q('DELETE FROM dirs WHERE id = 2'))).code).toBe('23503');
    expect(await q('SELECT count(*)::int AS n FROM files')).toEqual([{ n: 300 }]);
  });
});
