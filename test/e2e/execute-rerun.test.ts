/**
 * What execute reports and records (issue 12 §6.6 and §6.7): the bytes THIS run freed beside
 * the plan's total (a re-run of an executed plan printed the plan's 200 KB as freed although
 * it did nothing), and a final status for NOOP actions (they stayed `pending` forever).
 */
import { linkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

interface ExecJson {
  executed: number;
  noop: number;
  failed: number;
  bytes_saved: number;
  plan_bytes_saved: number;
  status: string;
}

interface ShowPlanJson {
  status: string;
  actions: { type: string; status: string; reason: string | null }[];
}

const SIZE = 100_000;

describe('re-running an executed plan', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  beforeAll(() => {
    dir = tempDir('hashall-rerun-');
    tree = join(dir, 'tree');
    cat = join(dir, 'catalog.db');
    // Two groups: each a kept file with a second link already (NOOP) and two copies.
    writeTree(tree, {
      'x/a.bin': Buffer.alloc(SIZE, 'a'),
      'y/a.bin': Buffer.alloc(SIZE, 'a'),
      'z/a.bin': Buffer.alloc(SIZE, 'a'),
      'x/b.bin': Buffer.alloc(SIZE, 'b'),
      'y/b.bin': Buffer.alloc(SIZE, 'b'),
      'z/b.bin': Buffer.alloc(SIZE, 'b'),
    });
    linkSync(join(tree, 'x/a.bin'), join(tree, 'x/a-link.bin'));
    linkSync(join(tree, 'x/b.bin'), join(tree, 'x/b-link.bin'));
    writeFileSync(join(tree, 'unique.bin'), 'unique');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    const plan = hashall(['conductor', 'plan', 'p', '--catalog', cat, '--json']);
    expect(plan.json<{ actions: Record<string, number> }>().actions).toMatchObject({
      HARDLINK: 4,
      NOOP: 2,
    });
  });
  afterAll(() => removeTree(dir));

  const execute = (...extra: string[]) =>
    hashall(['conductor', 'execute', '1', '--force', '--catalog', cat, ...extra]);
  const showPlan = () =>
    hashall([
      'conductor',
      'show-plan',
      '1',
      '--limit',
      '0',
      '--catalog',
      cat,
      '--json',
    ]).json<ShowPlanJson>();

  it('the first run frees the plan; NOOP actions then carry a final status', () => {
    // A dry run records nothing, not even a NOOP's outcome.
    expect(hashall(['conductor', 'execute', '1', '--dry-run', '--catalog', cat]).code).toBe(0);
    expect(
      showPlan()
        .actions.filter((a) => a.type === 'NOOP')
        .map((a) => a.status),
    ).toEqual(['pending', 'pending']);
    const r = execute('--json');
    expect(r.code).toBe(0);
    expect(r.json<ExecJson>()).toMatchObject({
      executed: 4,
      noop: 2,
      failed: 0,
      bytes_saved: 4 * SIZE,
      plan_bytes_saved: 4 * SIZE,
      status: 'executed',
    });
    const plan = showPlan();
    expect(plan.status).toBe('executed');
    const byType = (t: string) => plan.actions.filter((a) => a.type === t).map((a) => a.status);
    expect(byType('HARDLINK')).toEqual(['executed', 'executed', 'executed', 'executed']);
    expect(byType('NOOP')).toEqual(['noop', 'noop']);
    expect(plan.actions.filter((a) => a.status === 'pending')).toEqual([]);
  });

  it('a re-run frees nothing and says so, with the plan total beside it', () => {
    const j = execute('--json');
    expect(j.code).toBe(0);
    expect(j.json<ExecJson>()).toMatchObject({
      executed: 0,
      failed: 0,
      bytes_saved: 0,
      plan_bytes_saved: 4 * SIZE,
      status: 'executed',
    });
    const human = execute();
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/Freed: 0 B \(0 bytes\); 400\.0 KB by this plan in all/);
    expect(showPlan().actions.filter((a) => a.status === 'pending')).toEqual([]);
  });
});

describe('a run whose outcomes are recorded while a batch is still being checked', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('hashall-counts-');
  });
  afterAll(() => removeTree(dir));

  it('counts every action it executed (the unjournaled part of the batch was dropped)', () => {
    const tree = join(dir, 'tree');
    const cat = join(dir, 'catalog.db');
    const PAIRS = 500;
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < PAIRS; i++) {
      const body = Buffer.alloc(2000 + i, i % 251);
      files[`a/${i}.bin`] = body;
      files[`b/${i}.bin`] = body;
    }
    writeTree(tree, files);
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    expect(hashall(['conductor', 'plan', 'p', tree, '--catalog', cat, '-q']).code).toBe(0);
    // 6 ms before each check: the run passes the 2 s outcome interval in mid-batch.
    const r = hashall(['conductor', 'execute', '1', '--force', '--json', '--catalog', cat], {
      env: { HASHALL_FAILPOINT_DELAY: 'execute-check=6' },
    });
    expect(r.code, r.stderr).toBe(0);
    const j = r.json<ExecJson>();
    expect({ executed: j.executed, failed: j.failed, status: j.status }).toEqual({
      executed: PAIRS,
      failed: 0,
      status: 'executed',
    });
    const show = hashall([
      'conductor',
      'show-plan',
      '1',
      '--json',
      '--limit',
      '0',
      '--catalog',
      cat,
    ]);
    const plan = show.json<ShowPlanJson>();
    expect(
      plan.actions.filter((a) => a.type === 'HARDLINK' && a.status === 'executed'),
    ).toHaveLength(PAIRS);
  }, 120_000);
});
