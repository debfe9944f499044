/**
 * Checks that stored group totals and device usage equal a grouping of every row, shared by
 * the stored-totals suites (test/e2e/stored-totals.test.ts, pg-stored-totals-fold.test.ts).
 */
import { expect } from 'vitest';
import type pg from 'pg';
import type { GroupKey } from '../../src/catalog/groups.js';
import { ALL_ROWS, type DupeQueries } from '../../src/catalog/query-port.js';
import { prepareSame } from '../../src/catalog/pg/query-groups.js';
import { pgQueryOps } from '../../src/catalog/pg/query.js';
import { pgStoredUsage } from '../../src/catalog/pg/stored-totals.js';

export interface Grouping {
  readonly totals: { groups: number; saveable: number; pinnedInodes: number };
  readonly rows: GroupKey[];
  readonly source: string;
}

/**
 * Every group of the unfiltered same-device dupes listing with its paths, as listed, and the
 * same listing made from every row (an mtime bound that keeps every row: such a listing
 * groups the rows, never the stored totals).
 */
export async function expectDupesExact(dupes: DupeQueries): Promise<void> {
  const list = async (mtimeSince?: bigint) => {
    const l = await dupes.prepare({ crossDevice: false, scope: ALL_ROWS, mtimeSince });
    const out: unknown[] = [];
    for (let after = 0; ;) {
      const page = await l.page({ afterRowId: after, groups: 3, paths: 5 });
      if (page.length === 0) break;
      out.push(...page);
      after = page[page.length - 1]!.key.rowId;
    }
    return { groups: l.groups, out };
  };
  expect(await list()).toEqual(await list(-(2n ** 62n)));
}

/** The same-device groups on PostgreSQL, from the stored totals or from every row. */
async function pgGrouping(
  client: pg.Client,
  from: 'stored-totals' | 'rows',
  deviceId?: number,
): Promise<Grouping> {
  const { source, ...totals } = await prepareSame(client, deviceId, false, from);
  const rows = (
    await client.query<Record<string, string | Buffer>>(
      'SELECT * FROM pg_temp.same_groups ORDER BY row_id',
    )
  ).rows.map((r): GroupKey => ({
    rowId: Number(r.row_id),
    deviceId: Number(r.device_id),
    sha256: r.sha256 as Buffer,
    size: Number(r.size),
    inodes: Number(r.inodes),
    paths: Number(r.paths),
    pinned: Number(r.pinned),
    classes: Number(r.classes),
    saveable: Number(r.saveable),
  }));
  return { totals, rows, source: source.kind };
}

/** Per-device usage counted from every active row (what usage_totals must hold). */
async function pgUsageFromRows(client: pg.Client): Promise<unknown[]> {
  const r = await client.query<Record<string, string>>(
    `SELECT device_id, sum(paths) AS files, count(*) AS inodes, sum(size) AS bytes,
            sum(blocks) * 512 AS allocated
       FROM (SELECT device_id, inode, count(*) AS paths, max(size) AS size, max(blocks) AS blocks
               FROM files WHERE status = 'active' GROUP BY device_id, inode) i
      GROUP BY device_id ORDER BY device_id`,
  );
  return r.rows.map((u) => ({
    deviceId: Number(u.device_id),
    files: Number(u.files),
    inodes: Number(u.inodes),
    bytes: Number(u.bytes),
    allocatedBytes: Number(u.allocated),
  }));
}

export async function expectExactPg(client: pg.Client): Promise<void> {
  const devices = (await client.query<{ id: string }>('SELECT id FROM devices ORDER BY id')).rows;
  for (const deviceId of [undefined, ...devices.map((d) => Number(d.id))]) {
    const stored = await pgGrouping(client, 'stored-totals', deviceId);
    const rows = await pgGrouping(client, 'rows', deviceId);
    expect(stored.rows).toEqual(rows.rows);
    expect(stored.totals).toEqual(rows.totals);
  }
  const usage = (await pgStoredUsage(client)).sort((a, b) => a.deviceId - b.deviceId);
  expect(usage).toEqual(await pgUsageFromRows(client));
  await expectDupesExact(pgQueryOps(client).dupes);
}
