/**
 * The whole workflow through the real CLI on both catalog backends — scan, analyze, plan,
 * execute, rescan, analyze --rescan, dupes, export, undo — each on its own copy of one hostile tree (mktree
 * --tricky, same seed), and the figures each step reports compared between SQLite and
 * PostgreSQL: the same tree must give the same answers whichever catalog holds it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir } from '../helpers/fs.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';

const PG_MISSING = pgUnavailableReason();
if (PG_MISSING && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${PG_MISSING}`);
}
if (PG_MISSING) console.warn(`skipping the CLI on PostgreSQL: ${PG_MISSING}`);

type Doc = Record<string, unknown>;

/**
 * What each step reports, without what differs by nature between two copies of a tree (paths,
 * inode numbers, ids, times, log names, free space), nor how analyze obtained its groups
 * (SQLite keeps stored totals, PostgreSQL groups each time). Lists are compared as sets:
 * members of a group come in inode order, and the copies' inode numbers differ.
 */
function figures(doc: unknown, root: string): unknown {
  const drop =
    /(_at|^log|^id|^plan_id|^identity|^device_identity|^machine_id|^st_dev.*|^catalog|^created|^mounts|inode|_b64|^available|^source)$/;
  const norm = (v: unknown): unknown => {
    if (typeof v === 'string') return v.split(root).join('<tree>');
    if (Array.isArray(v))
      return v.map(norm).sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => !drop.test(k))
          .map(([k, x]) => [k, norm(x)]),
      );
    }
    return v;
  };
  return norm(doc);
}

async function workflow(catalog: string, root: string): Promise<Record<string, unknown>> {
  const run = (...args: string[]): Doc => {
    const r = hashall([...args, '--catalog', catalog, '--json']);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('hashall: error'))).toEqual([]);
    return JSON.parse(r.stdout) as Doc;
  };
  const out: Record<string, unknown> = {};
  const scan = run('scan', root);
  out.scan = {
    files: scan.files,
    new: scan.new,
    hashed: scan.hashed_files ?? scan.hashedFiles,
    errors: (scan.errors as unknown[] | undefined)?.length,
  };
  out.analyze = figures(run('conductor', 'analyze', '--cross-device'), root);
  const plan = run('conductor', 'plan', 'both');
  out.plan = figures(plan, root);
  out.execute = figures(run('conductor', 'execute', String(plan.id), '--force'), root);
  const rescan = run('scan', root);
  out.rescan = [rescan.new, rescan.changed, rescan.deleted, rescan.unchanged];
  out.after = (run('conductor', 'analyze').same_device as Doc).bytes_saveable;
  // The same look in one command: the rescan part records nothing, the analysis agrees.
  const looked = run('conductor', 'analyze', '--rescan');
  const again = looked.rescan as Doc;
  out.looked = [
    again.new,
    again.changed,
    again.deleted,
    again.files === scan.files,
    (looked.same_device as Doc).bytes_saveable,
  ];
  out.dupes = figures(run('dupes'), root);
  const exported = join(root, '..', 'export.json');
  run('export', '--format', 'json', '--out', exported);
  out.export = figures(
    readFileSync(exported, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown),
    root,
  );
  out.undo = figures(run('conductor', 'undo', String(plan.id), '--force'), root);
  const back = run('scan', root);
  out.back = [back.new, back.changed, back.deleted];
  out.finally = (run('conductor', 'analyze').same_device as Doc).bytes_saveable;
  return out;
}

describe.skipIf(PG_MISSING)('the CLI on SQLite and on PostgreSQL', () => {
  let cluster: PgCluster;
  let dir: string;

  beforeAll(async () => {
    cluster = await startPgCluster();
    dir = tempDir('hashall-backends-');
  }, 120_000);

  afterAll(() => {
    cluster?.stop();
    if (dir) removeTree(dir);
  });

  it('reports the same figures at every step of scan → analyze → plan → execute → undo', async () => {
    const lite = join(dir, 'lite', 'tree');
    const pg = join(dir, 'pg', 'tree');
    const summary = mktree(lite, [
      '--files',
      '300',
      '--total-mb',
      '12',
      '--seed',
      '11',
      '--tricky',
    ]);
    mktree(pg, ['--files', '300', '--total-mb', '12', '--seed', '11', '--tricky']);
    const a = await workflow(join(dir, 'lite', 'c.db'), lite);
    const b = await workflow(cluster.url(await cluster.createDatabase()), pg);
    expect(b).toEqual(a);
    // And the figures are the tree's: the plan freed what analyze promised, then undo gave
    // every byte back, and nothing changed on disk behind the catalog's back.
    const planned = (a.plan as Doc).bytes_saveable as number;
    expect(planned).toBeGreaterThan(0);
    expect(planned).toBeLessThanOrEqual(summary.hardlink_dedupe_saving_bytes);
    expect((a.execute as Doc).bytes_saved).toBeGreaterThan(0);
    // Hostile names (newlines, non-UTF-8, paths beyond PATH_MAX) executed, none failed.
    expect((a.execute as Doc).failed).toBe(0);
    expect((a.rescan as number[]).slice(0, 3)).toEqual([0, 0, 0]);
    expect(a.looked).toEqual([0, 0, 0, true, a.after]);
    expect(a.back).toEqual([0, 0, 0]);
  }, 600_000);
});
