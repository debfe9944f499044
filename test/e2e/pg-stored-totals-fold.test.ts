/**
 * The fold of the stored totals on PostgreSQL (src/catalog/pg/stored-totals.ts) when several
 * hosts write one catalog at once: a fold never clears a key whose rows another transaction
 * has changed but not committed, and two scans of different devices that run, and fold, at
 * the same time leave stored totals equal to a grouping of every row.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { CLI } from '../helpers/cli.js';
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
    expect(await fold.done).toEqual({ kind: 'folded', keys: 1, devices: 0 });
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
});
