/**
 * better-sqlite3 12's native objects must never be garbage-collected while the process lives:
 * on Node 24 a collection finished by a platform task aborts the process (SIGABRT, exit 134)
 * when it frees one (see src/catalog/native-handles.ts). CI runs this file on Node 24 as well
 * as on the lines the whole suite runs on (.ci/node-lines.sh).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir } from '../helpers/fs.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const OPEN = dist('catalog/open.js');

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

/** A temp directory of its own, holding `source` as a program file. */
function program(source: string): { dir: string; script: string } {
  const dir = tempDir();
  dirs.push(dir);
  const script = join(dir, 'program.mjs');
  writeFileSync(script, source);
  return { dir, script };
}

/**
 * A child that uses the catalog the way commands do — statements prepared and dropped, pragmas,
 * iterators run to the end, transactions — while it allocates enough garbage for V8 to finish
 * incremental marking from a task, and yields to the event loop so that task can run.
 */
const STRESS = `
import { openCatalog } from ${JSON.stringify(OPEN)};
const { db } = openCatalog(process.argv[2]);
db.exec('CREATE TABLE IF NOT EXISTS temp.t (x INTEGER)');
let junk = [];
for (let round = 0; round < 150; round++) {
  for (let i = 0; i < 50; i++) db.prepare('SELECT ? AS v').get(i);
  db.pragma('user_version', { simple: true });
  for (const _ of db.prepare('SELECT 1 UNION ALL SELECT 2').iterate());
  db.transaction(() => db.prepare('INSERT INTO temp.t VALUES (?)').run(round))();
  for (let i = 0; i < 20000; i++) junk.push({ s: 'x'.repeat(24) + i });
  if (junk.length > 200000) junk = [];
  await new Promise((r) => setImmediate(r));
}
db.close();
console.log('STRESS-DONE');
`;

/**
 * The stress above with `new Database` as the tests use it, in a program that first does what
 * every test process does first (test/helpers/keep-native.ts, vitest.config.ts setupFiles).
 */
const STRESS_PLAIN = `
import { createRequire } from 'node:module';
const { keepEveryNativeObject, keptNativeObjects } = await import(${JSON.stringify(dist('catalog/native-handles.js'))});
keepEveryNativeObject();
const Database = createRequire(${JSON.stringify(new URL('../../package.json', import.meta.url).pathname)})('better-sqlite3');
let junk = [];
for (let round = 0; round < 150; round++) {
  const db = new Database(process.argv[2]);
  for (let i = 0; i < 50; i++) db.prepare('SELECT ? AS v').get(i);
  db.pragma('user_version', { simple: true });
  db.pragma('cache_size = -512');
  for (const _ of db.prepare('SELECT 1 UNION ALL SELECT 2').iterate());
  db.close();
  for (let i = 0; i < 20000; i++) junk.push({ s: 'x'.repeat(24) + i });
  if (junk.length > 200000) junk = [];
  await new Promise((r) => setImmediate(r));
}
console.log('STRESS-DONE', keptNativeObjects());
`;

/** A scan and a plan in one process; prints how many native objects that process keeps. */
const COUNT = `
const { openCatalog } = await import(${JSON.stringify(OPEN)});
const { keptNativeObjects } = await import(${JSON.stringify(dist('catalog/native-handles.js'))});
const { runScan } = await import(${JSON.stringify(dist('scan/scanner.js'))});
const { createPlan } = await import(${JSON.stringify(dist('conductor/plan.js'))});
const cat = openCatalog(process.argv[3]);
await runScan(cat, { roots: [process.argv[2]] });
await createPlan(cat, { name: 'p', sameDevice: true, crossDevice: false });
cat.db.close();
console.log(JSON.stringify({ kept: keptNativeObjects() }));
`;

/** A rescan in one process; prints how many native objects that process keeps. */
const RESCAN_COUNT = `
const { openCatalog } = await import(${JSON.stringify(OPEN)});
const { keptNativeObjects } = await import(${JSON.stringify(dist('catalog/native-handles.js'))});
const { runScan } = await import(${JSON.stringify(dist('scan/scanner.js'))});
const cat = openCatalog(process.argv[3]);
await runScan(cat, { roots: [process.argv[2]] });
await cat.close();
console.log(JSON.stringify({ kept: keptNativeObjects() }));
`;

describe('native objects outlive every garbage collection (Node 24 abort)', () => {
  /**
   * Run a stress program on a catalog file of its own: no abort, exit 0, and the dangerous path
   * really taken (collections ran from a platform task, outside any JS context: "finalize
   * incremental marking via task", or a scavenge task). Its output.
   */
  function stress(source: string): string {
    const { dir, script } = program(source);
    const r = spawnSync(process.execPath, ['--trace-gc', script, join(dir, 'catalog.db')], {
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 64 << 20,
    });
    expect(r.stderr.slice(0, 2000)).not.toMatch(/Assertion failed/);
    expect({ code: r.status, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(r.stdout).toMatch(/via task|\) task;/);
    return r.stdout;
  }

  it('survives collections finished by a platform task, and exits 0', () => {
    expect(stress(STRESS)).toContain('STRESS-DONE');
  });

  it("and so does a test process's own `new Database` garbage (what the suite loads first)", () => {
    // On Node 24 vitest's workers aborted so, after their tests had passed: "Worker exited
    // unexpectedly", 15 times in one run of the suite.
    const done = /STRESS-DONE (\d+)/.exec(stress(STRESS_PLAIN));
    // Every database, statement (the pragmas' too) and iterator of the 150 rounds.
    expect(Number(done?.[1])).toBe(150 * (1 + 50 + 2 + 2));
  });

  it('scan and plan exit 0 and the plan frees what mktree says', () => {
    const dir = tempDir();
    dirs.push(dir);
    const tree = join(dir, 'tree');
    const sum = mktree(tree, ['--files', '2000', '--total-mb', '64', '--seed', '11']);
    const catalog = join(dir, 'catalog.db');
    const scan = hashall(['scan', tree, '--catalog', catalog, '--quiet']);
    expect(scan.stderr).not.toMatch(/Assertion failed/);
    expect(scan.code).toBe(0);
    for (let run = 0; run < 3; run++) {
      const plan = hashall([
        'conductor',
        'plan',
        `p${run}`,
        '--device',
        tree,
        '--catalog',
        catalog,
        '--json',
      ]);
      expect(plan.stderr).not.toMatch(/Assertion failed/);
      expect({ code: plan.code, signal: plan.signal }).toEqual({ code: 0, signal: null });
      expect(plan.json<{ bytes_saveable: number }>().bytes_saveable).toBe(
        sum.hardlink_dedupe_saving_bytes,
      );
    }
  });

  /** Run a counting program (COUNT, RESCAN_COUNT) on a tree and a catalog: what it keeps. */
  function keptBy(script: string, args: { tree: string; catalog: string; flags?: string }) {
    const r = spawnSync(process.execPath, [script, args.tree, args.catalog], {
      encoding: 'utf8',
      timeout: 120_000,
      env: args.flags ? { ...process.env, HASHALL_FAILPOINT_FLAGS: args.flags } : process.env,
    });
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { kept: number }).kept;
  }

  it('keeps a few dozen native objects per command, however big the tree', () => {
    const { dir, script } = program(COUNT);
    const kept = (files: number): number => {
      const tree = join(dir, `tree-${files}`);
      mktree(tree, ['--files', String(files), '--total-mb', '8', '--dup-ratio', '0.6']);
      return keptBy(script, { tree, catalog: join(dir, `${files}.db`) });
    };
    const small = kept(300);
    const big = kept(4000); // 900 duplicate groups, 13 times the files
    expect(big).toBeLessThan(150);
    expect(big - small).toBeLessThan(10);
  });

  it('a rescan that commits after every directory keeps as many, however many directories', () => {
    // The walk asks after each commit whether the log has grown enough to start the
    // checkpointer thread (checkpointer.ts): asked by pragma each time, that kept two
    // statements per commit: 276 more for the bigger tree than for the smaller one.
    const { dir, script } = program(RESCAN_COUNT);
    const kept = (files: number): number => {
      const tree = join(dir, `tree-${files}`);
      mktree(tree, ['--files', String(files), '--total-mb', '4']);
      const catalog = join(dir, `${files}.db`);
      expect(hashall(['scan', tree, '--catalog', catalog, '--quiet']).code).toBe(0);
      return keptBy(script, { tree, catalog, flags: 'scan-small-commits' });
    };
    const small = kept(200);
    const big = kept(3000);
    expect(big - small).toBeLessThan(10);
  });
});
