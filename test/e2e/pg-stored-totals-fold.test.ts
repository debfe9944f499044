/**
 * The fold of the stored totals on PostgreSQL (src/catalog/pg/stored-totals.ts) when several
 * hosts write one catalog at once: a fold never clears a key whose rows another transaction
 * has changed but not committed, and two scans of different devices that run, and fold, at
 * the same time leave stored totals equal to a grouping of every row. After a first scan the
 * fold counts the device usage on a second connection, in a transaction of its own, beside the
 * groups; when that connection cannot open or fails, the fold's own connection counts it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, linkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { foldPgStoredTotals, type FoldOutcome } from '../../src/catalog/pg/stored-totals.js';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { mountTmpfs, requireMounts, unmountAll } from '../helpers/mounts.js';
import { PgClients, scanOk, startFold } from '../helpers/pg-cli.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';
import { expectExactPg } from '../helpers/stored-totals.js';

const A = 'alpha'.repeat(400);
const B = 'bravo'.repeat(300);

const dirs: string[] = [];
const clients = new PgClients();
const connect = (url: string): Promise<pg.Client> => clients.connect(url);
const scan = scanOk;

/** A scan as its own process (several at once), resolving to its exit code and stderr. */
function scanAsync(
  tree: string,
  url: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, 'scan', tree, '--catalog', url, '--quiet'], {
      env: { ...process.env, HASHALL_CATALOG: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

const count = async (c: pg.Client, sql: string): Promise<number> =>
  Number((await c.query<{ n: string }>(sql)).rows[0]!.n);

/** The stored usage rows as they are (not recounted for dirty devices). */
const storedUsage = async (c: pg.Client): Promise<string[][]> =>
  (
    await c.query<string[]>({
      text: 'SELECT device_id, files, inodes, bytes, allocated FROM usage_totals ORDER BY device_id',
      rowMode: 'array',
    })
  ).rows;

/** The usage counted from the rows, in usage_totals' columns. */
const countedUsage = async (c: pg.Client): Promise<string[][]> =>
  (
    await c.query<string[]>({
      text: `SELECT device_id, sum(paths)::bigint, count(*)::bigint, sum(size)::bigint,
                    sum(blocks)::bigint * 512
               FROM (SELECT device_id, inode, count(*) AS paths, max(size) AS size,
                            max(blocks) AS blocks
                       FROM files WHERE status = 'active' GROUP BY device_id, inode) i
              GROUP BY device_id ORDER BY device_id`,
      rowMode: 'array',
    })
  ).rows;

/**
 * A catalog as a first scan leaves it before its fold: its device claimed whole and its usage
 * dirty, with the stored rows of both wrong, so that only a fold can make them right. The tree
 * has hard links: paths and inodes differ.
 */
async function unfoldedFirstScan(): Promise<{ url: string; c: pg.Client }> {
  const dir = tempDir();
  dirs.push(dir);
  const tree = join(dir, 'tree');
  writeTree(tree, { 'a/1': A, 'a/2': A, 'b/1': B, 'b/2': B, 'c/own': 'own' });
  linkSync(join(tree, 'a/1'), join(tree, 'c/link'));
  const cluster = pgTestCluster();
  const url = cluster.url(await cluster.createDatabase());
  scan(tree, url);
  const c = await connect(url);
  await c.query(`INSERT INTO group_dirty_devices (device_id) SELECT id FROM devices;
                 INSERT INTO usage_dirty (device_id) SELECT id FROM devices;
                 DELETE FROM group_totals;
                 UPDATE usage_totals SET files = 0, inodes = 0, bytes = 0, allocated = 0`);
  const usage = await countedUsage(c);
  expect(usage).toHaveLength(1);
  expect(Number(usage[0]![2]), 'hard links: fewer inodes than paths').toBeLessThan(
    Number(usage[0]![1]),
  );
  return { url, c };
}

/** After a fold: nothing dirty, and the stored rows are exactly what the rows give. */
async function expectFolded(c: pg.Client): Promise<void> {
  expect(
    await count(
      c,
      `SELECT (SELECT count(*) FROM group_dirty) + (SELECT count(*) FROM usage_dirty)
            + (SELECT count(*) FROM group_dirty_devices) AS n`,
    ),
  ).toBe(0);
  expect(await storedUsage(c)).toEqual(await countedUsage(c));
  await expectExactPg(c);
}

describe.skipIf(pgBackend.unavailable)('the stored totals fold on PostgreSQL', () => {
  beforeAll(() => pgBackend.setup());
  afterAll(async () => {
    await clients.closeAll();
    unmountAll();
    for (const d of dirs.splice(0)) removeTree(d);
    pgBackend.teardown();
  });

  it('waits for a transaction that changed rows of a key already marked dirty', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const tree = join(dir, 'tree');
    writeTree(tree, { 'a/1': A, 'a/2': A, 'a/3': A, 'b/1': B, 'b/2': B });
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    scan(tree, url);
    const folder = await connect(url);
    const writer = await connect(url);
    const watcher = await connect(url);
    const ids = (
      await watcher.query<{ id: string }>(
        `SELECT id FROM files WHERE size = ${A.length} ORDER BY id`,
      )
    ).rows.map((r) => r.id);
    // Another host changed a row of A's group and committed: A's key is dirty.
    await writer.query('UPDATE files SET mode = 33152 WHERE id = $1', [ids[0]]);
    // It changes another row of that key, not committed yet: its trigger finds the key
    // marked already, and relies on that mark.
    await writer.query('BEGIN');
    await writer.query('UPDATE files SET uid = uid + 1 WHERE id = $1', [ids[1]]);
    // A fold now must not clear the key with totals that miss the open change.
    const fold = await startFold(folder, watcher);
    expect(fold.outcome()).toBeUndefined(); // it waits for the writer
    await writer.query('COMMIT');
    expect(await fold.done).toEqual({
      kind: 'folded',
      keys: 1,
      devices: 0,
      usage: { kind: 'with the groups' },
    });
    // Nothing dirty is left, and the stored rows are those of a full grouping.
    expect(
      Number(
        (await watcher.query<{ n: string }>('SELECT count(*) AS n FROM group_dirty')).rows[0]!.n,
      ),
    ).toBe(0);
    await expectExactPg(watcher);
    const classes = await watcher.query<{ classes: string }>(
      'SELECT classes FROM group_totals WHERE sha256 = (SELECT sha256 FROM files WHERE id = $1)',
      [ids[0]],
    );
    expect(classes.rows.map((r) => Number(r.classes))).toEqual([3]);
  });

  it('two hosts scanning their own devices at once, each folding at its end, leave exact totals', async (ctx) => {
    requireMounts(ctx);
    const dir = tempDir();
    dirs.push(dir);
    const trees = [join(dir, 'dev1'), join(dir, 'dev2')];
    for (const t of trees) mountTmpfs(t, 16);
    const files: Record<string, string> = {};
    for (let d = 0; d < 12; d++)
      for (let f = 0; f < 8; f++) files[`d${d}/f${f}`] = [A, B, `own ${d} ${f}`][(d + f) % 3]!;
    for (const t of trees) writeTree(t, files);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    const reader = await connect(url);
    // Small commits and a pause per directory: the scans' transactions and folds interleave.
    const env = {
      HASHALL_FAILPOINT_FLAGS: 'scan-small-commits',
      HASHALL_FAILPOINT_DELAY: 'scan-dir=5',
    };
    for (let round = 0; round < 3; round++) {
      const runs = await Promise.all(trees.map((t) => scanAsync(t, url, env)));
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      // As a reader sees it, with nothing folded since: clean keys as stored must be exact.
      await expectExactPg(reader);
      // Changes for the next round: copies, rewritten contents, deletions.
      for (const [i, t] of trees.entries()) {
        copyFileSync(join(t, 'd0/f0'), join(t, `d${round + 1}/copy${round}`));
        writeFileSync(join(t, `d${(round + i) % 12}/f1`), [A, B][round % 2]!);
        writeFileSync(join(t, `d${round + 5}/f2`), `changed ${round} ${i}`);
      }
    }
    const devices = await reader.query<{ n: string }>('SELECT count(*) AS n FROM devices');
    expect(Number(devices.rows[0]!.n)).toBe(2);
    const dirty = await reader.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM group_dirty) + (SELECT count(*) FROM usage_dirty) AS n',
    );
    expect(Number(dirty.rows[0]!.n)).toBe(0);
  }, 300_000);

  it('after a first scan, counts the usage on a second connection, in a transaction of its own, beside the groups', async () => {
    const { url, c } = await unfoldedFirstScan();
    const watcher = await connect(url);
    // Another transaction holds usage_dirty (and not group_dirty): the usage half waits for
    // it, the group half does not.
    const holder = await connect(url);
    await holder.query('BEGIN');
    await holder.query(
      'INSERT INTO usage_dirty (device_id) SELECT id FROM devices ON CONFLICT DO NOTHING',
    );
    let second: number | undefined;
    let outcome: FoldOutcome | undefined;
    const done = foldPgStoredTotals(c, {
      second: async () => {
        const { client } = await connectPg(url);
        second = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
          .pid;
        return client;
      },
    }).then((o) => (outcome = o));
    // The groups are folded and committed while the usage waits on the second connection.
    for (let i = 0; ; i++) {
      expect(i, 'the groups are folded while the usage waits').toBeLessThan(1000);
      const claims = await count(watcher, 'SELECT count(*) AS n FROM group_dirty_devices');
      const waiting =
        second !== undefined &&
        (
          await watcher.query<{ wait: string | null }>(
            'SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1',
            [second],
          )
        ).rows[0]?.wait === 'Lock';
      if (claims === 0 && waiting) break;
      expect(outcome, 'the fold waits for the holder of usage_dirty').toBeUndefined();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await count(watcher, 'SELECT count(*) AS n FROM group_totals')).toBe(2);
    expect(await count(watcher, 'SELECT count(*) AS n FROM usage_dirty')).toBe(1);
    expect(outcome).toBeUndefined();
    await holder.query('COMMIT');
    expect(await done).toEqual({ kind: 'folded', keys: 0, devices: 1, usage: { kind: 'aside' } });
    await expectFolded(watcher);
    // The second connection is gone once the fold has returned.
    for (let i = 0; ; i++) {
      const left = await count(
        watcher,
        `SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ${Number(second)}`,
      );
      if (left === 0) break;
      expect(i, 'the second connection ends').toBeLessThan(200);
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  it('a second connection that cannot open, or fails, leaves the usage to the fold’s own connection, exactly', async () => {
    const ways: { second: (url: string) => Promise<pg.Client>; why: RegExp }[] = [
      {
        // A database that is not there: the server refuses the connection.
        second: async (url) =>
          (await connectPg(url.replace(/\/t\d+_\d+/, '/no_such_catalog'))).client,
        why: /^no second connection: .*no_such_catalog/,
      },
      {
        // Connected, then ended by the server before its first statement.
        second: async (url) => {
          const { client } = await connectPg(url);
          const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
            .rows[0]!.pid;
          await pgTestCluster().admin('SELECT pg_terminate_backend($1)', [pid]);
          return client;
        },
        why: /^the second connection failed: /,
      },
    ];
    for (const w of ways) {
      const { url, c } = await unfoldedFirstScan();
      expect(url).toMatch(/\/t\d+_\d+/);
      const outcome = await foldPgStoredTotals(c, { second: () => w.second(url) });
      expect(outcome).toEqual({
        kind: 'folded',
        keys: 0,
        devices: 1,
        usage: { kind: 'after', why: expect.stringMatching(w.why) },
      });
      await expectFolded(c);
    }
  });

  it('the built CLI counts a first scan’s usage beside its groups, and says under --debug when it cannot', async () => {
    const cluster = pgTestCluster();
    const dir = tempDir();
    dirs.push(dir);
    const tree = join(dir, 'tree');
    writeTree(tree, { 'a/1': A, 'a/2': A, 'b/1': B, 'b/2': B });
    const role = `fold_${process.pid}`;
    await cluster.createRole(role, 'pw-fold');
    const catalog = async () =>
      cluster.url(await cluster.createDatabase(role), { user: role, password: 'pw-fold' });
    const scanDebug = (url: string) => {
      const r = hashall(['scan', tree, '--catalog', url, '--debug']);
      expect(r.code, r.stderr).toBe(0);
      return r.stderr;
    };
    const open = await catalog();
    expect(scanDebug(open)).not.toMatch(/device usage folded/);
    // Checked on a connection of the test's own, ended before the next scan.
    const check = async (url: string) => {
      const { client } = await connectPg(url);
      try {
        await expectFolded(client);
      } finally {
        await client.end();
      }
    };
    await check(open);
    // One connection at a time for the role: the fold's second is refused, and its own
    // connection counts the usage after the groups, exactly.
    await cluster.admin(`ALTER ROLE ${role} CONNECTION LIMIT 1`);
    const limited = await catalog();
    expect(scanDebug(limited)).toMatch(
      /debug: device usage folded after the groups, not beside them \(no second connection: .*too many connections/,
    );
    await check(limited);
    // On a terminal, that line is printed above the progress line, not into it.
    const onTty = await catalog();
    const cmd = [process.execPath, CLI, 'scan', tree, '--catalog', onTty, '--debug']
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      // A commit after every directory: progress is drawn before the fold.
      env: { ...process.env, HASHALL_CATALOG: '', HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(tty.status, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/walking /);
    // The line is wiped (carriage return, erase line) right before it.
    expect(tty.stdout).toContain('\r\x1b[2Khashall: debug: device usage folded after the groups');
    await cluster.admin(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
  });
});
