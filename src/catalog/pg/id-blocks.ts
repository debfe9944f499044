/**
 * Row ids handed out before their rows are written: reserved from a table's identity sequence
 * a block per round trip, the next block asked for while half of this one is left, so the walk
 * that writes rows behind it (write-behind.ts) seldom waits for a reservation. The query runs
 * in the connection's queue of writes (`run`): one statement at a time on a connection.
 *
 * Ids of rows never written (a rolled back transaction) are skipped, as a sequence's are.
 */
import type pg from 'pg';

/**
 * Ids reserved per round trip: the next block is asked for with half of this one left, and
 * waits behind the steps queued meanwhile (two of 4,096 rows at most), so half a block must
 * outlast them. Unused ids cost nothing (bigint), but each costs the server a nextval (37 ms
 * per 32,768): directories, a twentieth of the files on the reference tree, take smaller
 * blocks.
 */
const BLOCK = { files: 32_768, dirs: 4_096 } as const;

export class IdBlocks {
  /** Reserved ids; the first `used` are handed out (a cursor: shifting the array cost more). */
  private spare: number[] = [];
  private used = 0;
  private ahead: Promise<number[]> | undefined;
  private sequence: string | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly table: 'files' | 'dirs',
    /** Runs a statement in the connection's queue. */
    private readonly run: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  private get left(): number {
    return this.spare.length - this.used;
  }

  /** n unused ids of the table, in increasing order. */
  async take(n: number): Promise<number[]> {
    const block = BLOCK[this.table];
    while (this.left < n) {
      const next = this.ahead ?? this.reserve(Math.max(block, n - this.left));
      this.ahead = undefined;
      const got = await next;
      this.spare = [...this.spare.slice(this.used), ...got];
      this.used = 0;
    }
    const ids = this.spare.slice(this.used, this.used + n);
    this.used += n;
    if (this.left < block / 2 && !this.ahead) {
      const ahead = this.reserve(block);
      // Awaited by the take() that needs it; a failure meanwhile is not unhandled.
      ahead.catch(() => undefined);
      this.ahead = ahead;
    }
    return ids;
  }

  private reserve(n: number): Promise<number[]> {
    return this.run(async () => {
      // The sequence by name, looked up once: pg_get_serial_sequence per row cost 9 times more.
      if (this.sequence === undefined) {
        const s = await this.client.query<{ seq: string }>(
          `SELECT pg_get_serial_sequence($1, 'id') AS seq`,
          [this.table],
        );
        this.sequence = s.rows[0]!.seq;
      }
      // Sent back as a range when no other session took ids meanwhile (the common case), so
      // that 32,768 rows are neither sent nor parsed; else every id, in order.
      const r = await this.client.query<{ lo: string; n: string; ids: string[] | null }>(
        `SELECT min(v)::text AS lo, count(*)::text AS n,
                CASE WHEN max(v) - min(v) + 1 <> count(*) THEN array_agg(v ORDER BY v) END AS ids
           FROM (SELECT nextval($1::regclass) AS v FROM generate_series(1, $2)) s`,
        [this.sequence, n],
      );
      const row = r.rows[0]!;
      if (row.ids) return row.ids.map(Number);
      const lo = Number(row.lo);
      return Array.from({ length: Number(row.n) }, (_, i) => lo + i);
    });
  }
}
