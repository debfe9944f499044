/**
 * The PostgreSQL server restarted under a running command, through the real CLI: a scan fails
 * cleanly (one line naming the catalog, exit 1) and the next scan converges to what a fresh
 * scan makes; an execute fails the same way with its journal kept, and the next execute
 * recovers it and finishes — no path loses its content, no temporary link is left.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir } from '../helpers/fs.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';
import { contentDiff, snapshot } from '../helpers/snapshot.js';

const PG_MISSING = pgUnavailableReason();
if (PG_MISSING && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${PG_MISSING}`);
}
if (PG_MISSING) console.warn(`skipping the server-restart tests: ${PG_MISSING}`);

const LOST =
  /^hashall: error: catalog postgresql:\/\/.*: the connection to the server was lost \(.*\); what was committed is kept: check that the server is up and run the command again\n$/;

/** Run the CLI in the background with failpoint pauses; resolves with its exit and stderr. */
function background(args: string[], delay: string) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, HASHALL_CATALOG: '', HASHALL_FAILPOINT_DELAY: delay },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, stdout })),
  );
  return { done, progress: () => stdout + stderr };
}

async function until(what: string, test: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const count = async (cluster: PgCluster, db: string, sql: string) =>
  Number((await cluster.admin<{ n: string }>(sql, [], db)).rows[0]!.n);

describe.skipIf(PG_MISSING)('the PostgreSQL server restarted mid-command', () => {
  let cluster: PgCluster;
  let dir: string;

  beforeAll(async () => {
    cluster = await startPgCluster();
    dir = tempDir('hashall-pg-restart-');
  }, 120_000);

  afterAll(() => {
    cluster?.stop();
    if (dir) removeTree(dir);
  });

  it('mid-scan: one line, exit 1; the next scan converges to a fresh scan', async () => {
    const tree = join(dir, 'scan-tree');
    mktree(tree, ['--files', '400', '--total-mb', '8', '--seed', '21', '--tricky']);
    const db = await cluster.createDatabase();
    const url = cluster.url(db);
    const run = background(['scan', tree, '--catalog', url], 'scan-dir=40');
    // Some directories committed (the walk commits in batches), then the server goes.
    await until('the scan has committed rows', async () =>
      (await count(
        cluster,
        db,
        `SELECT count(*)::text AS n FROM pg_tables WHERE tablename = 'files'`,
      )) > 0
        ? (await count(cluster, db, 'SELECT count(*)::text AS n FROM files')) > 0
        : false,
    );
    cluster.restart();
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('hashall:'))).toHaveLength(1);
    expect(r.stderr.slice(r.stderr.indexOf('hashall: error:'))).toMatch(LOST);

    const again = hashall(['scan', tree, '--catalog', url, '--json']);
    expect(again.code, again.stderr).toBe(0);
    // What a fresh scan of the same tree reports, the converged catalog reports too.
    const fresh = cluster.url(await cluster.createDatabase());
    expect(hashall(['scan', tree, '--catalog', fresh, '-q']).code).toBe(0);
    const figures = (u: string) => {
      const a = JSON.parse(hashall(['conductor', 'analyze', '--catalog', u, '--json']).stdout) as {
        same_device: { bytes_saveable: number; groups: number };
      };
      const s = JSON.parse(hashall(['stats', '--catalog', u, '--json']).stdout) as Record<
        string,
        unknown
      >;
      const { active_files, deleted_files, inodes, bytes, directories, sha256_files, pending } = s;
      return {
        groups: a.same_device,
        stats: { active_files, deleted_files, inodes, bytes, directories, sha256_files, pending },
      };
    };
    expect(figures(url)).toEqual(figures(fresh));
  }, 300_000);

  it("mid-execute: one line, exit 1; the next execute recovers the journal and finishes, every path's content intact", async () => {
    const tree = join(dir, 'exec-tree');
    const summary = mktree(tree, ['--files', '300', '--total-mb', '8', '--seed', '22']);
    const db = await cluster.createDatabase();
    const url = cluster.url(db);
    expect(hashall(['scan', tree, '--catalog', url, '-q']).code).toBe(0);
    const plan = JSON.parse(
      hashall(['conductor', 'plan', 'p', '--catalog', url, '--json']).stdout,
    ) as { id: number; bytes_saveable: number };
    expect(plan.bytes_saveable).toBe(summary.hardlink_dedupe_saving_bytes);
    const before = snapshot(tree);
    const run = background(
      ['conductor', 'execute', String(plan.id), '--force', '--catalog', url],
      'execute-action=60',
    );
    await until(
      'some actions are executed',
      async () =>
        (await count(
          cluster,
          db,
          `SELECT count(*)::text AS n FROM conductor_actions WHERE status = 'executed'`,
        )) > 2,
    );
    cluster.restart();
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stderr.slice(r.stderr.indexOf('hashall: error:'))).toMatch(LOST);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);

    const resumed = hashall([
      'conductor',
      'execute',
      String(plan.id),
      '--force',
      '--catalog',
      url,
      '--json',
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const doc = JSON.parse(resumed.stdout) as { status: string; plan_bytes_saved: number };
    expect(doc.status).toBe('executed');
    expect(doc.plan_bytes_saved).toBe(plan.bytes_saveable);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    const temps = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? temps(join(d, e.name))
          : e.name.startsWith('.hashall-tmp-')
            ? [e.name]
            : [],
      );
    expect(temps(tree)).toEqual([]);
    expect(await count(cluster, db, 'SELECT count(*)::text AS n FROM conductor_journal')).toBe(0);
  }, 300_000);
});
