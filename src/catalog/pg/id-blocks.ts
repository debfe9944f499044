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
 * waits behind the batches queued meanwhile (2 of 4,096 rows at most), so half a block must
 * outlast them. Unused ids cost nothing (bigint).
 */
const BLOCK = 32_768;

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
    while (this.left < n) {
      const block = this.ahead ?? this.reserve(Math.max(BLOCK, n - this.left));
      this.ahead = undefined;
      const got = await block;
      this.spare = [...this.spare.slice(this.used), ...got];
      this.used = 0;
    }
    const ids = this.spare.slice(this.used, this.used + n);
    this.used += n;
    if (this.left < BLOCK / 2 && !this.ahead) {
      const ahead = this.reserve(BLOCK);
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
      const r = await this.client.query<{ id: string }>(
        `SELECT nextval($1::regclass) AS id FROM generate_series(1, $2)`,
        [this.sequence, n],
      );
      return r.rows.map((row) => Number(row.id));
    });
  }
}
