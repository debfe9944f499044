/**
 * The full hashing stage's candidates on PostgreSQL (src/catalog/pg/hash-candidates.ts): the
 * rows with a prefix hash and no full hash whose size and prefix another inode shares are found
 * by a per-row probe while few (an unchanged rescan) and by a join while many (a first scan).
 * Both forms must find the same rows, and a scan must hash them, and `pending` count them,
 * whichever form the catalog's state picks. Catalog states are made by hand: a scan hashes
 * everything, then the full hashes of some rows are cleared (as a scan stopped between its
 * stages leaves them).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connectPg } from '../../src/catalog/pg/connect.js';
import {
  FEW_PREFIX_ONLY,
  prefixCollision,
  prefixCollisionForm,
} from '../../src/catalog/pg/hash-candidates.js';
import { pgHashingOps } from '../../src/catalog/pg/hashing.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';

/** Files of one size (100 bytes), each its own content (more than the probe form takes). */
const SAME_SIZE = FEW_PREFIX_ONLY + 44;

const dirs: string[] = [];
const clients: pg.Client[] = [];

function scanJson(tree: string, url: string): { hashed_files: number; pending: number } {
  const r = hashall(['scan', tree, '--catalog', url, '--json', '-q']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { hashed_files: number; pending: number };
}

describe.skipIf(pgBackend.unavailable)('the full stage’s candidates on PostgreSQL', () => {
  beforeAll(() => pgBackend.setup());
  afterAll(async () => {
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
    for (const d of dirs.splice(0)) removeTree(d);
    pgBackend.teardown();
  });

  it('are found alike joined (many) and probed (few), hashed by a rescan and counted pending', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const tree = join(dir, 'tree');
    const files: Record<string, string> = { 'other/size': 'another size' };
    for (let i = 0; i < SAME_SIZE; i++)
      files[`d${i % 7}/f${i}`] = `content ${String(i).padStart(6, '0')}`.padEnd(100, '.');
    writeTree(tree, files);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    expect(scanJson(tree, url).pending).toBe(0);
    const { client: c } = await connectPg(url);
    clients.push(c);
    const sums = async () =>
      (
        await c.query<{ id: string; sha: string | null }>(
          `SELECT id, encode(sha256, 'hex') AS sha FROM files WHERE size = 100 ORDER BY id`,
        )
      ).rows;
    const hashed = await sums();
    expect(hashed).toHaveLength(SAME_SIZE);
    expect(hashed.every((r) => r.sha !== null)).toBe(true);
    /** Rows of the full stage, counted with the given form. */
    const count = async (form: 'probe' | 'join') =>
      Number(
        (
          await c.query<{ n: string }>(
            `SELECT count(*) AS n FROM files f
              WHERE f.status = 'active' AND f.size > 0 AND f.sha256 IS NULL
                AND f.prefix_hash IS NOT NULL AND ${prefixCollision(form)}`,
          )
        ).rows[0]!.n,
      );
    // Clear the full hashes of `n` rows of that size, and give them one prefix hash: as a scan
    // stopped after its prefix stage leaves files whose first bytes are alike.
    const clear = async (n: number) =>
      c.query(
        `UPDATE files SET sha256 = NULL, prefix_hash = $2
          WHERE id IN (SELECT id FROM files WHERE size = 100 ORDER BY id LIMIT $1)`,
        [n, Buffer.alloc(32, 7)],
      );
    for (const [n, form] of [
      [SAME_SIZE, 'join'],
      [10, 'probe'],
      [2, 'probe'],
    ] as const) {
      await clear(n);
      expect(await prefixCollisionForm(c), `${n} cleared`).toBe(form);
      // Both forms find the same rows: those cleared.
      expect(await count('probe')).toBe(n);
      expect(await count('join')).toBe(n);
      expect(await pgHashingOps(c).pending()).toBe(n);
      // A rescan's full stage hashes them again, to what they were.
      const again = scanJson(tree, url);
      expect(again.hashed_files, `${n} cleared`).toBe(n);
      expect(again.pending).toBe(0);
      expect(await sums()).toEqual(hashed);
    }
  });
});
