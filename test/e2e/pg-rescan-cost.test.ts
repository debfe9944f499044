/**
 * What an unchanged rescan costs a PostgreSQL catalog (issue 15, P2), kept from growing back:
 * the directories' marks are HOT updates (dirs pages filled to 45%, migration "pgrescan"), a
 * session runs with JIT off, the fold of the stored totals does nothing (no lock) when nothing
 * is dirty and still folds when something is, and the schema version is read in one statement
 * (the catalog's absence told by the error). Loading the driver does not load Node's fetch
 * implementation.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { foldPgStoredTotals, type FoldOutcome } from '../../src/catalog/pg/stored-totals.js';
import { CLI } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { PgClients, scanOk } from '../helpers/pg-cli.js';
import { pgBackend, pgTestCluster } from '../helpers/scan-backends.js';
import { expectExactPg } from '../helpers/stored-totals.js';

const A = 'alpha'.repeat(400);

const dirs: string[] = [];
const clients = new PgClients();
const connect = (url: string): Promise<pg.Client> => clients.connect(url);
const scan = scanOk;

/** A tree of `n` directories, a few files each, two of them copies of one content. */
function makeTree(n: number): string {
  const dir = tempDir();
  dirs.push(dir);
  const tree = join(dir, 'tree');
  const files: Record<string, string> = {};
  for (let d = 0; d < n; d++) {
    files[`dir-with-a-longish-name-${d}/own`] = `own ${d}`;
    files[`dir-with-a-longish-name-${d}/copy`] = d < 2 ? A : `other ${d}`;
  }
  writeTree(tree, files);
  return tree;
}

/** Each directory row's heap page (from its ctid) and the scan that last listed it. */
async function dirPlaces(
  c: pg.Client,
): Promise<Map<string, { page: number; listed: string | null }>> {
  const r = await c.query<{ id: string; ctid: string; listed: string | null }>(
    'SELECT id, ctid::text AS ctid, last_listed_scan::text AS listed FROM dirs',
  );
  return new Map(
    r.rows.map((row) => [
      row.id,
      { page: Number(/^\((\d+),/.exec(row.ctid)![1]), listed: row.listed },
    ]),
  );
}

describe.skipIf(pgBackend.unavailable)('an unchanged rescan on PostgreSQL', () => {
  beforeAll(() => pgBackend.setup());
  afterAll(async () => {
    await clients.closeAll();
    for (const d of dirs.splice(0)) removeTree(d);
    pgBackend.teardown();
  });

  it("marks every directory listed in place: each row's new version stays on its page (HOT)", async () => {
    // 400 directories: several pages of dirs, which a full page (fillfactor 100) would not
    // hold a second version of.
    const tree = makeTree(400);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    scan(tree, url);
    const c = await connect(url);
    const ff = await c.query<{ opts: string[] | null }>(
      `SELECT reloptions AS opts FROM pg_class WHERE oid = 'dirs'::regclass`,
    );
    expect(ff.rows[0]!.opts).toContain('fillfactor=45');
    const before = await dirPlaces(c);
    // The tree's root and its 400 directories (and the ancestors of the root, never listed).
    expect([...before.values()].filter((p) => p.listed !== null).length).toBe(401);
    const pages = new Set([...before.values()].map((p) => p.page));
    expect(pages.size).toBeGreaterThan(1);
    // The first rescan settles the rows the first scan grew (their listing fingerprints came
    // after they were inserted): some move once. From then on none does.
    for (let round = 0; round < 3; round++) {
      const last = await dirPlaces(c);
      scan(tree, url);
      const now = await dirPlaces(c);
      for (const [id, was] of last) {
        if (was.listed === null) continue;
        // Listed by this rescan (a new value), and still on the page it was on.
        expect(now.get(id)!.listed, `dir ${id}`).not.toBe(was.listed);
        if (round > 0) expect(now.get(id)!.page, `dir ${id}`).toBe(was.page);
      }
    }
  });

  it('runs its sessions with JIT off, unless PGOPTIONS chooses', async () => {
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    const c = await connect(url);
    expect((await c.query<{ jit: string }>('SHOW jit')).rows[0]!.jit).toBe('off');
    const saved = process.env.PGOPTIONS;
    process.env.PGOPTIONS = '-c jit=on';
    try {
      const own = await connect(url);
      expect((await own.query<{ jit: string }>('SHOW jit')).rows[0]!.jit).toBe('on');
    } finally {
      if (saved === undefined) delete process.env.PGOPTIONS;
      else process.env.PGOPTIONS = saved;
    }
  });

  it("scans and analyzes without loading Node's fetch implementation", async () => {
    const tree = makeTree(2);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    // The CLI, as a user runs it, with a preload that reports at exit which of Node's own
    // modules were loaded (and whether a `navigator` global was left behind where there was
    // none).
    const dir = tempDir();
    dirs.push(dir);
    const report = join(dir, 'report.mjs');
    writeFileSync(
      report,
      `const before = typeof globalThis.navigator;
       process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify({
         undici: process.moduleLoadList.filter((m) => /undici/.test(m)),
         navigator: [before, typeof globalThis.navigator],
       }) + '\\n'));`,
    );
    for (const args of [
      ['scan', tree, '--catalog', url, '--quiet'],
      ['conductor', 'analyze', '--catalog', url, '--json'],
    ]) {
      const r = spawnSync(process.execPath, ['--import', report, CLI, ...args], {
        env: { ...process.env, HASHALL_CATALOG: '' },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
      const out = JSON.parse(line!.slice('LOADED '.length)) as {
        undici: string[];
        navigator: [string, string];
      };
      expect(out.undici, args.join(' ')).toEqual([]);
      expect(out.navigator[1]).toBe(out.navigator[0]);
    }
  });

  it('a fold with nothing dirty takes no lock; one with a dirty key folds it', async () => {
    const tree = makeTree(3);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    scan(tree, url);
    const folder = await connect(url);
    const writer = await connect(url);
    const watcher = await connect(url);
    const dirty = async () =>
      Number(
        (
          await watcher.query<{ n: string }>(
            'SELECT (SELECT count(*) FROM group_dirty) + (SELECT count(*) FROM usage_dirty) AS n',
          )
        ).rows[0]!.n,
      );
    expect(await dirty()).toBe(0);
    // Another host's transaction holds what a trigger's mark takes (ROW EXCLUSIVE) and has
    // marked nothing: a fold that locked would wait for it; with nothing dirty there is
    // nothing to wait for.
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE group_dirty, usage_dirty IN ROW EXCLUSIVE MODE');
    // (A fold that waited would fail here after 5 s rather than hang.)
    await folder.query(`SET lock_timeout = '5s'`);
    const outcome: FoldOutcome = await foldPgStoredTotals(folder);
    expect(outcome).toEqual({
      kind: 'folded',
      keys: 0,
      devices: 0,
      usage: { kind: 'with the groups' },
    });
    await writer.query('ROLLBACK');
    // A committed change of a key's rows: dirty, and the next fold folds it.
    await writer.query(
      `UPDATE files SET mode = 33152 WHERE id = (SELECT min(id) FROM files WHERE size = $1)`,
      [A.length],
    );
    expect(await dirty()).toBeGreaterThan(0);
    expect(await foldPgStoredTotals(folder)).toEqual({
      kind: 'folded',
      keys: 1,
      devices: 0,
      usage: { kind: 'with the groups' },
    });
    expect(await dirty()).toBe(0);
    await expectExactPg(watcher);
  });

  it('creates the catalog in an empty database and reads its version back', async () => {
    const tree = makeTree(2);
    const cluster = pgTestCluster();
    const url = cluster.url(await cluster.createDatabase());
    // No hashall_schema yet: the version read fails with undefined_table, which means "absent".
    scan(tree, url);
    scan(tree, url);
    const c = await connect(url);
    const v = await c.query<{ n: string }>('SELECT count(*) AS n FROM hashall_schema');
    expect(Number(v.rows[0]!.n)).toBeGreaterThan(0);
  });
});
