/**
 * What an executor run's log holds (conductor/run.ts, plan-run.ts, run-log.ts): the header,
 * one line per action with its outcome and both paths, and the totals; a dry run leaves none.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

describe('the log of conductor execute', () => {
  let dir: string;
  let cat: string;
  let tree: string;
  beforeAll(() => {
    dir = tempDir('hashall-runlog-');
    tree = join(dir, 'tree');
    cat = join(dir, 'c.db');
    writeTree(tree, { 'a.bin': 'same content', 'b.bin': 'same content' });
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    expect(hashall(['conductor', 'plan', 'p', '--catalog', cat, '--quiet']).code).toBe(0);
  });
  afterAll(() => removeTree(dir));

  const logs = () => {
    try {
      return readdirSync(join(dir, 'logs'));
    } catch {
      return [];
    }
  };

  it('a dry run writes no log', () => {
    const r = hashall(['conductor', 'execute', '1', '--dry-run', '--catalog', cat, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).log).toBeNull();
    expect(logs()).toEqual([]);
  });

  it('a real run logs its header, each action with both paths, and the totals', () => {
    const r = hashall(['conductor', 'execute', '1', '--force', '--catalog', cat, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { log: string; executed: number };
    expect(doc.executed).toBe(1);
    expect(logs()).toHaveLength(1);
    const lines = readFileSync(doc.log, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toMatch(/ execute plan #1 "p" \(verify: bytes\) pid \d+$/);
    const action = lines.find((l) => / HARDLINK #\d+ executed /.test(l));
    expect(action).toBeDefined();
    // target ← source: one of a.bin / b.bin each.
    expect(action).toMatch(/ target=\S+\/tree\/[ab]\.bin source=\S+\/tree\/[ab]\.bin$/);
    expect(lines.at(-1)).toMatch(
      / done: status executed, executed 1, noop 0, failed 0, skipped 0, bytes freed 12 \(plan in all: 12\)$/,
    );
  });
});
