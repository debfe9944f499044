/**
 * Row ids handed out before their rows are written (src/catalog/pg/id-blocks.ts), on a real
 * server: a block comes back as a range when the sequence gave it without a gap, and as every
 * id when it did not (another session took ids meanwhile; here, a sequence that steps by 3);
 * either way the ids are the sequence's, so no other session can be handed one of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { IdBlocks } from '../../src/catalog/pg/id-blocks.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';

describe('PostgreSQL id blocks', () => {
  if (pgBackend.unavailable) {
    it.skip(`skipped: ${pgBackend.unavailable}`, () => undefined);
    return;
  }
  beforeAll(() => pgBackend.setup(), 120_000);
  afterAll(() => pgBackend.teardown());

  it('reserves ids of the sequence, as a range or one by one, that no other session gets', async () => {
    const cluster = pgTestCluster();
    const db = await cluster.createDatabase();
    const conn = await connectPg(cluster.url(db));
    await migratePg(conn);
    const client = conn.client;
    const other = (await connectPg(cluster.url(db))).client;
    try {
      const run = <T>(fn: () => Promise<T>) => fn();
      const next = async () =>
        Number(
          (await other.query<{ v: string }>(`SELECT nextval('files_id_seq') AS v`)).rows[0]!.v,
        );

      const files = new IdBlocks(client, 'files', run);
      const a = await files.take(3);
      expect(a[1]! - a[0]!).toBe(1);
      expect(a[2]! - a[1]!).toBe(1);
      // A block was reserved past them: another session's next id lies beyond the block.
      const after = await next();
      expect(after).toBeGreaterThan(a[2]! + 30_000);
      const b = await files.take(2);
      expect(b).toEqual([a[2]! + 1, a[2]! + 2]);

      // A sequence with gaps: the ids come back one by one, in order, as the sequence gave them.
      await cluster.admin(`ALTER SEQUENCE files_id_seq INCREMENT BY 3`, [], db);
      const stepped = new IdBlocks(client, 'files', run);
      const c = await stepped.take(4);
      expect(c.map((v) => v - c[0]!)).toEqual([0, 3, 6, 9]);
      expect(c[0]!).toBeGreaterThan(after);
      expect(await next()).toBeGreaterThan(c[3]! + 3 * 30_000);

      // Directories take smaller blocks.
      const dirs = new IdBlocks(client, 'dirs', run);
      const d = await dirs.take(1);
      const dirNext = Number(
        (await other.query<{ v: string }>(`SELECT nextval('dirs_id_seq') AS v`)).rows[0]!.v,
      );
      expect(dirNext - d[0]!).toBeGreaterThan(4_000);
      expect(dirNext - d[0]!).toBeLessThan(4_200);
    } finally {
      await other.end();
      await client.end();
    }
  });
});
