/**
 * Hash results written on PostgreSQL (src/catalog/pg/hash-rows.ts) read only the rows they
 * write, whatever the planner believes of `files`. A first scan's catalog has no statistics
 * (its role may not ANALYZE; autovacuum comes later, and is off here so that it cannot come),
 * and the planner, which then takes `status = 'active'` for a few hundred rows, once answered
 * each write by hashing every active row of the catalog. The transaction's own table counters
 * (pg_stat_xact_user_tables) say how many rows of `files` a write read.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { writeHashes, type HashMatch } from '../../src/catalog/pg/hash-rows.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';

/** Files in the catalog: far more than the writes below name. */
const FILES = 3000;
/** Results per write. */
const WRITTEN = 20;

const dirs: string[] = [];
const clients: pg.Client[] = [];

interface Row {
  id: string;
  device_id: string;
  inode: string;
  size: string;
  mtime_ns: string;
  ctime_ns: string;
}

/**
 * The rows of `files` this backend has read so far. The counters of the transaction's view hold
 * what earlier transactions of the backend have not yet reported too (PostgreSQL 15+ reports
 * them when the backend is next idle outside a transaction), so a write is measured by two
 * reads in one transaction, before and after it.
 */
async function readCounts(c: pg.Client): Promise<{ seq: number; fetched: number }> {
  const r = await c.query<{ seq: string; fetched: string }>(
    `SELECT coalesce(seq_tup_read, 0) AS seq, coalesce(idx_tup_fetch, 0) AS fetched
       FROM pg_stat_xact_user_tables WHERE relname = 'files'`,
  );
  return { seq: Number(r.rows[0]!.seq), fetched: Number(r.rows[0]!.fetched) };
}

describe.skipIf(pgBackend.unavailable)('hash results written on PostgreSQL', () => {
  let c: pg.Client;
  let rows: Row[];

  beforeAll(async () => {
    await pgBackend.setup();
    const dir = tempDir();
    dirs.push(dir);
    const tree = join(dir, 'tree');
    const files: Record<string, string> = {};
    for (let i = 0; i < FILES; i++) files[`d${i % 30}/f${i}`] = `file ${i}`;
    writeTree(tree, files);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    // Create the schema (an empty catalog), then keep autovacuum away from `files`.
    expect(hashall(['stats', '--catalog', url]).code).toBe(0);
    c = (await connectPg(url)).client;
    clients.push(c);
    await c.query('ALTER TABLE files SET (autovacuum_enabled = false)');
    const scan = hashall(['scan', tree, '--catalog', url, '-q']);
    expect(scan.code, scan.stderr).toBe(0);
    const stats = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stats WHERE tablename = 'files'`,
    );
    expect(Number(stats.rows[0]!.n), 'files must have no statistics').toBe(0);
    rows = (
      await c.query<Row>(
        `SELECT id, device_id, inode, size, mtime_ns, ctime_ns FROM files ORDER BY id`,
      )
    ).rows;
    expect(rows).toHaveLength(FILES);
  });

  afterAll(async () => {
    for (const x of clients.splice(0)) await x.end().catch(() => undefined);
    for (const d of dirs.splice(0)) removeTree(d);
    pgBackend.teardown();
  });

  it.each<HashMatch>(['row', 'inode'])(
    'by %s: fetch only the rows they write, and write them',
    async (match) => {
      const chosen = rows.filter((_, i) => i % 97 === 5).slice(0, WRITTEN);
      const prefix = Buffer.from(`new prefix by ${match}`);
      await c.query('BEGIN');
      try {
        const before = await readCounts(c);
        await writeHashes(
          c,
          match,
          chosen.map((r) => ({
            target: {
              fileId: Number(r.id),
              paths: 1,
              deviceId: Number(r.device_id),
              inode: BigInt(r.inode),
              size: BigInt(r.size),
              mtimeNs: BigInt(r.mtime_ns),
              ctimeNs: BigInt(r.ctime_ns),
            },
            prefix,
            sha256: undefined,
          })),
        );
        const after = await readCounts(c);
        const written = await c.query<{ id: string }>(
          `SELECT id FROM files WHERE prefix_hash = $1 ORDER BY id`,
          [prefix],
        );
        expect(written.rows.map((r) => r.id)).toEqual(chosen.map((r) => r.id));
        expect(after.seq - before.seq, 'rows read by sequential scans').toBe(0);
        // Each written row is fetched to find it and once more to update it.
        expect(after.fetched - before.fetched, 'rows fetched through indexes').toBeLessThanOrEqual(
          3 * WRITTEN,
        );
      } finally {
        await c.query('ROLLBACK');
      }
    },
  );
});
