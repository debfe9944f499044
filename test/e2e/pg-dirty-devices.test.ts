/**
 * Devices whose every key is dirty (group_dirty_devices: src/catalog/pg/dirty-devices.ts,
 * src/catalog/group-totals.ts). A PostgreSQL first scan claims its device in each of its
 * transactions instead of marking the device's keys one by one; readers regroup every key of a
 * listed device, a fold rebuilds them. Only a transaction's own claim excuses its triggers, a
 * fold leaves a claim that a running transaction holds, and a SQLite catalog copied with such
 * a row reads and folds it alike. On a real server (test/helpers/pg.ts).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { claimDevices } from '../../src/catalog/pg/dirty-devices.js';
import { foldPgStoredTotals } from '../../src/catalog/pg/stored-totals.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { killAt } from '../helpers/kill-at.js';
import { PgClients, scanOk, startFold } from '../helpers/pg-cli.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';
import { expectExactPg } from '../helpers/stored-totals.js';

const dirs: string[] = [];
const clients = new PgClients();

/** A tree of 12 directories whose files fall in a few groups (and some alone). */
function groupedTree(): string {
  const dir = tempDir();
  dirs.push(dir);
  const tree = join(dir, 'tree');
  const files: Record<string, string> = {};
  for (let d = 0; d < 12; d++)
    for (let f = 0; f < 6; f++)
      files[`d${d}/f${f}`] = ['alpha'.repeat(300), 'bravo'.repeat(200), `own ${d} ${f}`][
        (d + f) % 3
      ]!;
  writeTree(tree, files);
  return tree;
}

const count = async (c: pg.Client, sql: string): Promise<number> =>
  Number((await c.query<{ n: string }>(sql)).rows[0]!.n);

const claims = async (c: pg.Client): Promise<number[]> =>
  (
    await c.query<{ device_id: string }>(
      'SELECT device_id FROM group_dirty_devices ORDER BY device_id',
    )
  ).rows.map((r) => Number(r.device_id));

interface Analysis {
  same_device: {
    groups: number;
    bytes_saveable: number;
    source: { kind: string; keys?: number; devices?: number };
  };
}
const analyze = (catalog: string): Analysis => {
  const r = hashall(['conductor', 'analyze', '--catalog', catalog, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Analysis;
};

/** A new catalog with the tree scanned into it, a connection, its device and a row per key. */
async function scanned(): Promise<{ url: string; c: pg.Client; device: number; hashed: string[] }> {
  const tree = groupedTree();
  const url = pgTestCluster().url(await pgTestCluster().createDatabase());
  scanOk(tree, url);
  const c = await clients.connect(url);
  const device = (await c.query<{ id: string }>('SELECT id FROM devices')).rows.map((r) =>
    Number(r.id),
  );
  expect(device).toHaveLength(1);
  // A row of each hashed key.
  const hashed = (
    await c.query<{ id: string }>(
      'SELECT DISTINCT ON (sha256) id FROM files WHERE sha256 IS NOT NULL ORDER BY sha256, id',
    )
  ).rows.map((r) => r.id);
  expect(hashed.length).toBeGreaterThan(2);
  return { url, c, device: device[0]!, hashed };
}

describe.skipIf(pgBackend.unavailable)('devices whose every key is dirty', () => {
  beforeAll(() => pgBackend.setup());
  afterAll(async () => {
    await clients.closeAll();
    for (const d of dirs.splice(0)) removeTree(d);
    pgBackend.teardown();
  });

  it('a first scan claims its device: no key marked one by one, readers regroup it, its fold clears the claim', async () => {
    const tree = groupedTree();
    const url = pgTestCluster().url(await pgTestCluster().createDatabase());
    // Killed right after the first of its commits that carries hash results (every one so far
    // a claimed transaction's). Not after the n-th commit: how many commit before the hashing
    // threads answer depends on the machine's load: in one CI run none of the first 11 did.
    killAt(['scan', tree, '--catalog', url, '-q'], {
      point: 'scan-hash-write',
      env: { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
    });
    const c = await clients.connect(url);
    const hashed = await count(c, 'SELECT count(*) AS n FROM files WHERE sha256 IS NOT NULL');
    expect(hashed, 'rows that the triggers would have marked').toBeGreaterThan(0);
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(0);
    expect(await claims(c)).toHaveLength(1);
    // Nothing folded: no stored group for the device, yet readers see every group it has.
    expect(await count(c, 'SELECT count(*) AS n FROM group_totals')).toBe(0);
    const killed = analyze(url);
    expect(killed.same_device.source).toEqual({ kind: 'updated', keys: 0, devices: 1 });
    expect(killed.same_device.groups).toBeGreaterThan(0);
    await expectExactPg(c);
    // The scan completes: its fold rebuilds the device and removes the claim.
    scanOk(tree, url);
    expect(await claims(c)).toEqual([]);
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(0);
    const done = analyze(url);
    expect(done.same_device.source).toEqual({ kind: 'cached' });
    expect(done.same_device.groups).toBeGreaterThanOrEqual(killed.same_device.groups);
    await expectExactPg(c);
  });

  it('excuses only the transaction that claimed: a claim another committed does not', async () => {
    const { c, url, device, hashed } = await scanned();
    const other = await clients.connect(url);
    // Another transaction's claim, committed.
    await other.query('BEGIN');
    await claimDevices(other, [device]);
    await other.query('COMMIT');
    // This one changes a hashed row's grouping columns without a claim: its key is marked.
    await c.query('UPDATE files SET mode = mode + 1 WHERE id = $1', [hashed[0]]);
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(1);
    // With its own claim, another change marks nothing: a path of the largest group gone.
    const before = analyze(url).same_device;
    await c.query('BEGIN');
    await claimDevices(c, [device]);
    await c.query(
      `UPDATE files SET status = 'deleted'
        WHERE id = (SELECT min(id) FROM files WHERE size = (SELECT max(size) FROM files))`,
    );
    await c.query('COMMIT');
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(1);
    await expectExactPg(c);
    const claimed = analyze(url).same_device;
    expect(claimed.bytes_saveable).toBeLessThan(before.bytes_saveable);
    expect(claimed.source).toEqual({ kind: 'updated', keys: 1, devices: 1 });
    // Copied to SQLite, claim and all, the catalog reads alike.
    const db = join(dirs[dirs.length - 1]!, 'copy.db');
    const copy = hashall(['catalog', 'copy', '--from', url, '--to', db, '-q']);
    expect(copy.code, copy.stderr).toBe(0);
    expect(analyze(db).same_device).toEqual(claimed);
    // The fold rebuilds the claimed device (its one marked key with it).
    expect(await foldPgStoredTotals(c)).toMatchObject({ kind: 'folded', keys: 0 });
    expect(await claims(c)).toEqual([]);
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(0);
    await expectExactPg(c);
  });

  it('two transactions claiming one device do not wait for each other: the second marks its keys', async () => {
    const { c, url, device, hashed } = await scanned();
    const other = await clients.connect(url);
    await c.query('BEGIN');
    await claimDevices(c, [device]);
    await other.query('BEGIN');
    // Were it to wait for the first claim, this would fail instead of returning.
    await other.query(`SET LOCAL lock_timeout = '5s'`);
    await claimDevices(other, [device]);
    await other.query('UPDATE files SET mode = mode + 1 WHERE id = $1', [hashed[0]]);
    await c.query('UPDATE files SET mode = mode + 1 WHERE id = $1', [hashed[1]]);
    await other.query('COMMIT');
    await c.query('COMMIT');
    // The second transaction's key is marked; the first's is covered by its claim.
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(1);
    expect(await claims(c)).toEqual([device]);
    await expectExactPg(c);
  });

  it('a fold leaves a claim that an open transaction holds, and waits for one whose triggers wrote', async () => {
    const { c, url, device, hashed } = await scanned();
    const scan = await clients.connect(url);
    const watcher = await clients.connect(url);
    // A scan's transaction has claimed the device and written nothing yet: the fold does not
    // wait for it, and leaves its claim.
    await scan.query('BEGIN');
    await claimDevices(scan, [device]);
    expect(await foldPgStoredTotals(c)).toEqual({
      kind: 'folded',
      keys: 0,
      devices: 0,
      usage: { kind: 'with the groups' },
    });
    // Its change marks no key; once it commits, readers regroup the claimed device.
    await scan.query('UPDATE files SET uid = uid + 1 WHERE id = $1', [hashed[0]]);
    await scan.query('COMMIT');
    expect(await claims(c)).toEqual([device]);
    expect(await count(c, 'SELECT count(*) AS n FROM group_dirty')).toBe(0);
    await expectExactPg(c);
    // Next, a transaction that claimed and changed rows: a fold waits for it to end.
    await scan.query('BEGIN');
    await claimDevices(scan, [device]);
    await scan.query('UPDATE files SET gid = gid + 1 WHERE id = $1', [hashed[1]]);
    const fold = await startFold(c, watcher);
    expect(fold.outcome()).toBeUndefined();
    await scan.query('COMMIT');
    expect(await fold.done).toEqual({
      kind: 'folded',
      keys: 0,
      devices: 0,
      usage: { kind: 'with the groups' },
    });
    expect(await claims(watcher)).toEqual([]);
    await expectExactPg(watcher);
    expect(analyze(url).same_device.source).toEqual({ kind: 'cached' });
  });
});
