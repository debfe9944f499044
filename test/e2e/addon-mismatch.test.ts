/**
 * better-sqlite3 built for another Node.js (a user switched Node versions, or copied
 * node_modules): one line naming the fix, exit 2 — not four lines of dlopen text under
 * "internal error". Needs a Node.js binary whose module version differs from the one this
 * checkout's better-sqlite3 was built for: HASHALL_OTHER_ABI_NODE (.ci/run sets it; the suite
 * on the machine's Node gets another line's binary, the suite on that line gets the machine's).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';

const other = process.env.HASHALL_OTHER_ABI_NODE;
const work = mkdtempSync(join(tmpdir(), 'hashall-abi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function abiOf(node: string): string {
  const r = spawnSync(node, ['-p', 'process.versions.modules'], { encoding: 'utf8' });
  return r.stdout.trim();
}

describe('better-sqlite3 built for another Node.js', () => {
  it('says so in one line with the command that fixes it, exit 2', (ctx) => {
    if (!other) {
      const why = 'HASHALL_OTHER_ABI_NODE is not set (a Node.js binary of another module version)';
      if (process.env.HASHALL_REQUIRE_OTHER_NODE === '1') throw new Error(`required: ${why}`);
      console.warn(`skipping: ${why}`);
      return ctx.skip(why);
    }
    expect(abiOf(other)).not.toBe(process.versions.modules);
    const tree = join(work, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a'), 'a');
    const r = spawnSync(other, [CLI, 'scan', tree, '--catalog', join(work, 'c.db')], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(r.status).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^hashall: error: the SQLite module better-sqlite3 was built for another Node\.js \(module version \d+; Node v[\d.]+ needs \d+\); rebuild it for this Node\.js: run `npm rebuild better-sqlite3` in \/.*, or reinstall hashall$/,
    );
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  });
});
