/**
 * `hashall catalog copy`, on a real catalog and a real PostgreSQL server: a catalog with
 * scans, an executed plan, an undone plan and a pending one goes SQLite → PostgreSQL → SQLite
 * and comes back identical, table by table and row by row (ids, bytes, nanosecond times);
 * the copy on PostgreSQL hands out the next ids after the copied ones; the copied SQLite
 * catalog works (a rescan finds nothing changed, the plans list the same). Refusals: a
 * destination that holds a catalog, the same catalog twice, a source with an interrupted
 * execute. A copy killed half-way leaves the destination as it was. Memory is a page: a
 * 150,000-file catalog copies in a 48 MiB JavaScript heap.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCatalog } from '../../src/catalog/copy/copy.js';
import { PG_SCHEMA_VERSION } from '../../src/catalog/pg/schema.js';
import { CLI, hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { killAt, killExecuteAt } from '../helpers/kill-at.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';

type Dump = Record<string, string[]>;

/** Every row of every table of an SQLite catalog, in key order, as comparable text. */
function sqliteDump(path: string): Dump {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
      )
      .pluck()
      .all() as string[];
    const out: Dump = {};
    for (const t of tables) {
      const key = (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string; pk: number }[])
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      out[t] = (
        db
          .prepare(`SELECT * FROM ${t} ORDER BY ${key.join(', ')}`)
          .safeIntegers(true)
          .all() as Record<string, unknown>[]
      ).map((r) =>
        JSON.stringify(r, (_k, v: unknown) =>
          typeof v === 'bigint'
            ? v.toString()
            : v && typeof v === 'object' && 'type' in v && v.type === 'Buffer'
              ? `x${Buffer.from((v as unknown as { data: number[] }).data).toString('hex')}`
              : v,
        ),
      );
    }
    return out;
  } finally {
    db.close();
  }
}

const json = <T>(stdout: string) => JSON.parse(stdout) as T;

const PG_MISSING = pgUnavailableReason();
if (PG_MISSING && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${PG_MISSING}`);
}
if (PG_MISSING) console.warn(`skipping hashall catalog copy: ${PG_MISSING}`);

describe.skipIf(PG_MISSING)('hashall catalog copy', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  let cluster: PgCluster;

  beforeAll(async () => {
    cluster = await startPgCluster();
    dir = tempDir('hashall-copy-');
    tree = join(dir, 'tree');
    cat = join(dir, 'a.db');
    mktree(tree, ['--files', '400', '--seed', '7', '--tricky']);
    const run = (args: string[]) => {
      const r = hashall([...args, '--catalog', cat, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    run(['scan', tree]);
    const p1 = json<{ id: number }>(run(['conductor', 'plan', 'first']));
    run(['conductor', 'execute', String(p1.id), '--force']);
    run(['conductor', 'undo', String(p1.id), '--force']);
    const p2 = json<{ id: number }>(run(['conductor', 'plan', 'second']));
    run(['conductor', 'execute', String(p2.id), '--force']);
    writeTree(tree, { 'late/a.bin': 'late copy\n', 'late/b.bin': 'late copy\n' });
    run(['scan', tree]);
    run(['conductor', 'plan', 'pending']);
  }, 300_000);

  afterAll(() => {
    cluster?.stop();
    if (dir) removeTree(dir);
  });

  it('goes SQLite → PostgreSQL → SQLite and comes back identical, row by row', async () => {
    const name = await cluster.createDatabase();
    const url = cluster.url(name);
    const there = hashall(['catalog', 'copy', '--from', cat, '--to', url, '--json']);
    expect(there.code, there.stderr).toBe(0);
    const doc = json<{ rows: number; tables: { name: string; rows: number }[] }>(there.stdout);
    const before = sqliteDump(cat);
    const expected = Object.entries(before)
      .filter(([t]) => !t.startsWith('executor_'))
      .reduce((n, [, rows]) => n + rows.length, 0);
    expect(doc.rows).toBe(expected);
    expect(doc.tables.find((t) => t.name === 'files')!.rows).toBe(before.files!.length);
    expect(before.conductor_actions!.length).toBeGreaterThan(0);

    const back = join(dir, 'back.db');
    const home = hashall(['catalog', 'copy', '--from', url, '--to', back]);
    expect(home.code, home.stderr).toBe(0);
    expect(home.stdout).toMatch(/^Copied [\d,]+ rows in \d+ tables from .* to .*back\.db\.$/m);
    expect(sqliteDump(back)).toEqual({ ...before, executor_lock: [], executor_device_lock: [] });

    // The copy is a working catalog: the tree is unchanged since, and the plans are the same.
    const rescan = hashall(['scan', tree, '--catalog', back, '--json']);
    expect(rescan.code, rescan.stderr).toBe(0);
    const s = json<{ new: number; changed: number; deleted: number }>(rescan.stdout);
    expect([s.new, s.changed, s.deleted]).toEqual([0, 0, 0]);
    const plans = (c: string) => hashall(['conductor', 'plans', '--catalog', c, '--json']).stdout;
    expect(plans(back)).toBe(plans(cat));

    // On PostgreSQL the next generated ids follow the copied ones.
    const db = new Database(cat, { readonly: true });
    const maxPlan = Number(db.prepare('SELECT max(id) FROM conductor_plans').pluck().get());
    db.close();
    const r = await cluster.admin<{ id: string }>(
      `INSERT INTO conductor_plans (name, status, created_at, options, total_opportunities, total_bytes_saveable)
         VALUES ('next', 'pending', 0, '{}', 0, 0) RETURNING id`,
      [],
      name,
    );
    expect(Number(r.rows[0]!.id)).toBe(maxPlan + 1);
  }, 180_000);

  it('pages by key: small pages (composite keys, self-references) give the same catalog', async () => {
    const url = cluster.url(await cluster.createDatabase());
    await copyCatalog({ from: cat, to: url, pageRows: 3 });
    const back = join(dir, 'small-pages.db');
    await copyCatalog({ from: url, to: back, pageRows: 5 });
    expect(sqliteDump(back)).toEqual({
      ...sqliteDump(cat),
      executor_lock: [],
      executor_device_lock: [],
    });
  }, 180_000);

  it('refuses a destination that holds a catalog, and the same catalog twice', async () => {
    const url = cluster.url(await cluster.createDatabase());
    expect(hashall(['catalog', 'copy', '--from', cat, '--to', url]).code).toBe(0);
    const again = hashall(['catalog', 'copy', '--from', cat, '--to', url]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(
      /^hashall: error: catalog copy: postgresql:\/\/.* already holds a catalog \([\d]+ rows in \w+\); copy into a new file or an empty database\n$/,
    );
    const onto = hashall(['catalog', 'copy', '--from', url, '--to', cat]);
    expect(onto.code).toBe(2);
    expect(onto.stderr).toContain('already holds a catalog');
    const self = hashall(['catalog', 'copy', '--from', cat, '--to', cat]);
    expect(self.code).toBe(2);
    expect(self.stderr).toBe(
      'hashall: error: catalog copy: --from and --to name the same catalog\n',
    );
  }, 120_000);

  it('never prints the password of either catalog', async () => {
    await cluster.createRole('copier', 's3cret-pw');
    const db = await cluster.createDatabase('copier');
    const url = cluster.url(db, { user: 'copier', password: 's3cret-pw' });
    const ok = hashall(['catalog', 'copy', '--from', cat, '--to', url, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const refused = hashall(['catalog', 'copy', '--from', cat, '--to', url]);
    expect(refused.code).toBe(2);
    for (const out of [ok.stdout, ok.stderr, refused.stdout, refused.stderr]) {
      expect(out).not.toContain('s3cret-pw');
    }
  }, 120_000);

  it('a copy killed half-way leaves the destination as it was; the next one completes', async () => {
    const name = await cluster.createDatabase();
    const url = cluster.url(name);
    killAt(['catalog', 'copy', '--from', cat, '--to', url], { point: 'copy-page', after: 3 });
    const n = await cluster.admin<{ n: string }>(
      'SELECT (SELECT count(*) FROM files) + (SELECT count(*) FROM devices) AS n',
      [],
      name,
    );
    expect(Number(n.rows[0]!.n)).toBe(0);
    expect(hashall(['catalog', 'copy', '--from', cat, '--to', url]).code).toBe(0);

    const file = join(dir, 'killed.db');
    killAt(['catalog', 'copy', '--from', url, '--to', file], { point: 'copy-page', after: 3 });
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('killed.db.copying-'))).not.toEqual([]);
    const done = hashall(['catalog', 'copy', '--from', url, '--to', file]);
    expect(done.code, done.stderr).toBe(0);
    expect(sqliteDump(file)).toEqual({
      ...sqliteDump(cat),
      executor_lock: [],
      executor_device_lock: [],
    });
    // The killed run's half-built file went with the next copy: nothing but the catalog.
    expect(readdirSync(dir).filter((f) => f.includes('.copying-'))).toEqual([]);
  }, 180_000);

  it('a server lost mid-copy: one line naming the catalog, exit 1, the destination untouched', async () => {
    await cluster.createRole('mover', 'pw-not-shown');
    const name = await cluster.createDatabase('mover');
    const url = cluster.url(name, { user: 'mover', password: 'pw-not-shown' });
    const child = spawn(process.execPath, [CLI, 'catalog', 'copy', '--from', cat, '--to', url], {
      env: { ...process.env, HASHALL_CATALOG: '', HASHALL_FAILPOINT_DELAY: 'copy-page=400' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // The copy's transaction is open (its first pages written) before the server goes: every
    // migration committed (the last version recorded: an earlier one's table is there while
    // the next migration's transaction is open, and idle between its statements), then a
    // transaction idle between two pages.
    for (let i = 0; ; i++) {
      const schema = await cluster.admin<{ ok: boolean }>(
        `SELECT to_regclass('hashall_schema') IS NOT NULL AS ok`,
        [],
        name,
      );
      const migrated =
        schema.rows[0]!.ok &&
        Number(
          (
            await cluster.admin<{ v: string }>(
              'SELECT coalesce(max(version), 0) AS v FROM hashall_schema',
              [],
              name,
            )
          ).rows[0]!.v,
        ) === PG_SCHEMA_VERSION;
      const r = await cluster.admin<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'`,
        [name],
      );
      if (migrated && Number(r.rows[0]!.n) > 0) break;
      if (i > 600) throw new Error(`the copy never opened its transaction: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    cluster.restart();
    expect(await exited).toBe(1);
    expect(stderr).toMatch(
      /^hashall: error: catalog postgresql:\/\/mover@.*: the connection to the server was lost \(.*\); what was committed is kept: check that the server is up and run the command again\n$/,
    );
    expect(stderr).not.toContain('pw-not-shown');
    const n = await cluster.admin<{ n: string }>('SELECT count(*) AS n FROM files', [], name);
    expect(Number(n.rows[0]!.n)).toBe(0);
  }, 120_000);

  it('refuses a source with an interrupted execute, naming the plan and what to run', () => {
    const d = tempDir('hashall-copy-journal-');
    try {
      const t = join(d, 't');
      const c = join(d, 'c.db');
      writeTree(t, { 'a/x': 'same\n', 'b/x': 'same\n', 'c/x': 'same\n' });
      expect(hashall(['scan', t, '--catalog', c, '-q']).code).toBe(0);
      const plan = json<{ id: number }>(
        hashall(['conductor', 'plan', 'p', '--catalog', c, '--json']).stdout,
      );
      killExecuteAt(c, plan.id, { point: 'after-journal' });
      const r = hashall(['catalog', 'copy', '--from', c, '--to', join(d, 'copy.db')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        `hashall: error: catalog copy: plan ${plan.id} of ${c} has an interrupted execute; run 'hashall conductor execute ${plan.id}' on the host that ran it (it recovers first), then copy\n`,
      );
      expect(existsSync(join(d, 'copy.db'))).toBe(false);
    } finally {
      removeTree(d);
    }
  }, 120_000);

  it('copies a 150,000-file catalog in a 48 MiB JavaScript heap (a page at a time)', async () => {
    const big = join(dir, 'big.db');
    expect(hashall(['scan', join(tree, 'late'), '--catalog', big, '-q']).code).toBe(0);
    const db = new Database(big);
    db.exec(`
        INSERT INTO dirs (device_id, parent_id, path, status, last_listed_scan)
          SELECT device_id, id, CAST(path || '/many' AS BLOB), 'active', last_listed_scan
            FROM dirs ORDER BY id DESC LIMIT 1;
        INSERT INTO files (device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode,
                           uid, gid, sha256, status, first_seen_scan, changed_scan, blocks)
          WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000)
          SELECT d.device_id, d.id, CAST('file-' || i || '-' || hex(randomblob(24)) AS BLOB),
                 1000000 + i, 1, i % 5000, 1700000000123456789 + i, 1700000000987654321 + i,
                 33188, 0, 0, randomblob(32), 'active', 1, 1, 8
            FROM n, (SELECT id, device_id FROM dirs WHERE id = (SELECT max(id) FROM dirs)) d;`);
    db.close();
    const url = cluster.url(await cluster.createDatabase());
    const r = hashall(['catalog', 'copy', '--from', big, '--to', url, '--json'], {
      env: { NODE_OPTIONS: '--max-old-space-size=48' },
      timeoutMs: 300_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(json<{ tables: { name: string; rows: number }[] }>(r.stdout).tables).toContainEqual({
      name: 'files',
      rows: 150_000 + 2,
    });
  }, 400_000);
});
