/**
 * The cap on V8's young generation (src/cli/young-generation.ts), in a real Node process: a
 * program that keeps some of what it allocates makes V8 grow the new space to its maximum
 * (32 MB on Node 20 and 22, more on later lines); with the cap it stays at the cap, give or
 * take the one doubling that can happen between two looks. The size is sampled through the
 * run and judged by its median: Node 24's V8 briefly reports a larger new space during some
 * collections (up to ~11 MB more for a few samples, with or without the cap, and with
 * `--max-semi-space-size` too), which is not the size it settles at.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capDecision, newSpaceAtCap } from '../../src/cli/young-generation.js';
import { CLI, hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir } from '../helpers/fs.js';

const moduleUrl = new URL('../../dist/cli/young-generation.js', import.meta.url).href;

// Allocates 3 million small objects in rounds, keeping one in ten for a while (as a scan or an
// execute keeps rows for a batch), yielding between rounds as the commands do between batches.
// Prints what the cap said and the median new-space size sampled.
const program = `
import v8 from 'node:v8';
const { capYoungGeneration } = await import(${JSON.stringify(moduleUrl)});
const cap = process.env.CAP_BYTES ? capYoungGeneration(Number(process.env.CAP_BYTES)) : { kind: 'none' };
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const sizes = [];
const keep = [];
for (let round = 0; round < 60; round++) {
  for (let i = 0; i < 50000; i++) {
    const o = { path: 'dir/' + round + '/file-' + i, size: i * 13, ino: BigInt(i), parts: [i, round] };
    if (i % 10 === 0) keep.push(o);
    if (keep.length > 50000) keep.splice(0, 25000);
    if (i % 5000 === 0) sizes.push(newSpace());
  }
  await new Promise((resolve) => setTimeout(resolve, 1));
}
sizes.sort((a, b) => a - b);
console.log(JSON.stringify({ kind: cap.kind, median: sizes[sizes.length >> 1] }));
`;

const nodes = [
  process.execPath,
  ...(process.env.HASHALL_OTHER_ABI_NODE ? [process.env.HASHALL_OTHER_ABI_NODE] : []),
];

function run(node: string, env: NodeJS.ProcessEnv): { kind: string; median: number } {
  const clean: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('NODE_OPTIONS' in env)) delete clean.NODE_OPTIONS;
  const r = spawnSync(node, ['--input-type=module', '-e', program], {
    encoding: 'utf8',
    env: clean,
    // The timer is unref'd: the program ends when its work does.
    timeout: 60_000,
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { kind: string; median: number };
}

const MB = 1024 * 1024;

describe.each(nodes)('the young-generation cap on %s', (node) => {
  it('holds the new space at the cap where V8 alone grows it past', () => {
    // Without the cap, the same program: V8 grows the new space to 32 MB or more.
    const free = run(node, {});
    expect(free.kind).toBe('none');
    expect(free.median).toBeGreaterThanOrEqual(32 * MB);
    const capped = run(node, { CAP_BYTES: String(4 * MB) });
    expect(capped.kind).toBe('capped');
    expect(capped.median).toBeGreaterThanOrEqual(4 * MB);
    expect(capped.median).toBeLessThanOrEqual(8 * MB);
  });

  it("leaves V8 alone when the user sets the young generation's size", () => {
    const r = run(node, { CAP_BYTES: String(4 * MB), NODE_OPTIONS: '--max-semi-space-size=2' });
    expect(r.kind).toBe('left');
    // --max-semi-space-size=2: two 2 MB semispaces at most, whatever the cap would do.
    expect(r.median).toBeLessThanOrEqual(4 * MB);
  });
});

// Loaded with --import before the command: samples the main thread's new space every 5 ms and
// writes the samples at exit. (Preloaded modules run in worker threads too; only the main
// thread's young generation is the command's.)
const PROBE = `
import v8 from 'node:v8';
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
if (isMainThread) {
  const sizes = [];
  const look = () => sizes.push(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
  setInterval(look, 5).unref();
  process.on('exit', () => { look(); writeFileSync(process.env.PROBE_OUT, JSON.stringify(sizes)); });
}
`;

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

describe('the hashall command', () => {
  it('starts with the cap: its execute keeps the new space at 16 MB where V8 alone grows it', () => {
    const dir = tempDir();
    dirs.push(dir);
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, PROBE);
    const tree = join(dir, 'tree');
    mktree(tree, ['--files', '15000', '--dup-ratio', '0.6', '--total-mb', '16', '--seed', '3']);
    /** Median new-space size of an execute of a fresh copy of the tree (~9,000 actions). */
    const executeMedian = (label: string, nodeFlags: string[]): number => {
      const root = join(dir, label);
      const cat = join(dir, `${label}.db`);
      execFileSync('cp', ['-a', tree, root]);
      expect(hashall(['scan', root, '--catalog', cat, '--quiet']).code).toBe(0);
      expect(hashall(['conductor', 'plan', 'p', '--catalog', cat, '--quiet']).code).toBe(0);
      const out = join(dir, `${label}.json`);
      const env: NodeJS.ProcessEnv = { ...process.env, HASHALL_CATALOG: '', PROBE_OUT: out };
      delete env.NODE_OPTIONS;
      const args = ['conductor', 'execute', '1', '--force', '--catalog', cat, '--quiet'];
      const r = spawnSync(process.execPath, [...nodeFlags, '--import', probe, CLI, ...args], {
        encoding: 'utf8',
        env,
        timeout: 120_000,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const sizes = (JSON.parse(readFileSync(out, 'utf8')) as number[]).sort((a, b) => a - b);
      return sizes[sizes.length >> 1]!;
    };
    // The user's own growth factor (V8's default, 2) leaves V8 alone: the control run. Without
    // the cap the command's execute grows the new space past it (medians measured: 32 MB on
    // Node 20, ~30 MB on 26).
    const free = executeMedian('free', ['--semi-space-growth-factor=2']);
    expect(free).toBeGreaterThan(16 * MB);
    // One run: a median above the cap is the cap failing. On Node 26 it did in some runs (CI,
    // 2026-12-05: 26.7 MB; 2 of 78 by hand) while the cap looked at the committed size, which
    // there reaches the cap 106-449 ms after the capacity does (src/cli/young-generation.ts).
    const capped = executeMedian('capped', []);
    expect(capped).toBeLessThanOrEqual(16 * MB);
  });
});

describe('where the cap applies', () => {
  const on = (nodeVersion: string, execArgv: string[] = [], nodeOptions?: string) =>
    capDecision({ nodeVersion, execArgv, nodeOptions });
  it('on the checked Node lines, unless the user set the size', () => {
    for (const v of ['v20.19.0', 'v21.7.3', 'v22.23.3', 'v24.21.0', 'v26.10.0']) {
      expect(on(v)).toBe('cap');
    }
    expect(on('v24.21.0', ['--max-semi-space-size=64'])).toBe('user-flag');
    expect(on('v24.21.0', [], '--max-old-space-size=512 --max-semi-space-size=8')).toBe(
      'user-flag',
    );
    expect(on('v24.21.0', ['--semi-space-growth-factor=4'])).toBe('user-flag');
    expect(on('v22.23.3', [], '--max_semi_space_size=32')).toBe('user-flag');
    // Other flags are not the user's say on the young generation.
    expect(on('v24.21.0', ['--max-old-space-size=512'], '--enable-source-maps')).toBe('cap');
  });
  it('not on lines where the flag it sets is not known to exist', () => {
    expect(on('v18.20.4')).toBe('node-line');
    expect(on('v28.0.0')).toBe('node-line');
    expect(on('not a version')).toBe('node-line');
  });
});

describe('when the new space is at the cap', () => {
  const cap = 16 * MB;
  /** A new space whose semispace can hold `semi` bytes, `committed` of both committed. */
  const space = (semi: number, committed: number) => ({
    space_size: committed,
    space_used_size: semi / 3,
    space_available_size: semi - semi / 3,
  });
  it('by the capacity V8 allocates up to, not the memory committed so far', () => {
    // Node 26 commits a grown semispace's pages as allocation reaches them: 8 MB semispaces
    // with 12 MB committed are at the cap (a look at the committed size said no, for up to
    // 449 ms, and a doubling in that time went past it for the rest of the run).
    expect(newSpaceAtCap(space(8 * MB, 12 * MB), cap)).toBe(true);
    // Node 20 and 24 commit both at once, and page headers take ~1.7% of the capacity.
    expect(newSpaceAtCap(space(8 * MB * 0.983, 16 * MB), cap)).toBe(true);
  });
  it('not one doubling below it', () => {
    expect(newSpaceAtCap(space(4 * MB, 8 * MB), cap)).toBe(false);
    expect(newSpaceAtCap(space(4 * MB * 0.983, 6 * MB), cap)).toBe(false);
  });
});
