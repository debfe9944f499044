/**
 * Execute and its dry run under a low open-files limit (issue 12 §6.1): a tree with thousands
 * of directories, each holding one duplicate, checked and executed under a hard limit of 256.
 * A dry run once kept every directory it visited open and failed its actions with EMFILE,
 * reported as "stale or changed"; a real run held a whole batch's fds and directories.
 */
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall, prlimitUnavailable } from '../helpers/cli.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const DIRS = 1500; // pairs: 3,000 directories, each with one file of a duplicate pair
const LIMIT = 256;

interface ExecJson {
  executed: number;
  would_link: number;
  noop: number;
  failed: number;
  status: string;
  failures: { target: string; error: string }[];
}

describe(`execute under an open-files limit of ${LIMIT}`, () => {
  let dir: string;
  let tree: string;
  let cat: string;
  const skipReason = prlimitUnavailable();

  beforeAll(() => {
    dir = tempDir('hashall-fdlimit-');
    tree = join(dir, 'tree');
    cat = join(dir, 'catalog.db');
    for (let i = 0; i < DIRS; i++) {
      for (const side of ['a', 'b']) {
        const d = join(tree, side, `d${String(i).padStart(5, '0')}`);
        mkdirSync(d, { recursive: true });
        writeFileSync(join(d, 'f.bin'), `content of pair ${i}\n`);
      }
    }
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    const plan = hashall([
      'conductor',
      'plan',
      'pairs',
      '--device',
      tree,
      '--catalog',
      cat,
      '--json',
    ]);
    expect(plan.code).toBe(0);
    expect(plan.json<{ actions: { HARDLINK: number } }>().actions.HARDLINK).toBe(DIRS);
  }, 120_000);
  afterAll(() => removeTree(dir));

  const run = (extra: string[]) => {
    const r = hashall(['conductor', 'execute', '1', ...extra, '--catalog', cat, '--json'], {
      nofile: LIMIT,
    });
    expect(r.stderr).not.toMatch(/EMFILE|ENFILE|too many open files/i);
    return { code: r.code, doc: r.json<ExecJson>() };
  };

  it('a dry run checks every action without running out of descriptors', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const { code, doc } = run(['--dry-run']);
    expect(doc.failures).toEqual([]);
    expect(doc).toMatchObject({ would_link: DIRS, failed: 0 });
    expect(code).toBe(0);
  }, 120_000);

  it('a real run links every pair without running out of descriptors', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const { code, doc } = run(['--force']);
    expect(doc.failures).toEqual([]);
    expect(doc).toMatchObject({ executed: DIRS, failed: 0, status: 'executed' });
    expect(code).toBe(0);
    for (let i = 0; i < DIRS; i += 97) {
      const name = `d${String(i).padStart(5, '0')}`;
      const a = lstatSync(join(tree, 'a', name, 'f.bin'));
      const b = lstatSync(join(tree, 'b', name, 'f.bin'));
      expect(b.ino).toBe(a.ino);
    }
  }, 120_000);

  it('a limit too low to run is one clear error, not failed actions', (ctx) => {
    if (skipReason) ctx.skip(skipReason);
    const r = hashall(['conductor', 'execute', '1', '--dry-run', '--catalog', cat], {
      // Enough for Node to load its modules, too few for the executor's margin and one action.
      nofile: 80,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hashall: error: the open-files limit \(80\) leaves too few/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
