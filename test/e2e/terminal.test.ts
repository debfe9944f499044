/**
 * On a real terminal (a pty from script(1)): progress goes to stderr, and execute asks before
 * touching anything — 'n' does nothing, 'y' executes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { linkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

function onTerminal(args: string[], input: string, env: Record<string, string> = {}): string {
  const cmd = [process.execPath, CLI, ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    input,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return r.stdout;
}

describe('on a terminal', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 't');
    cat = join(dir, 'c.db');
    writeTree(tree, { 'a.bin': 'same bytes', 'b.bin': 'same bytes', 'c.bin': 'other text' });
    // An inode with two links is hashed after the walk: the hashing bar shows too.
    linkSync(join(tree, 'c.bin'), join(tree, 'c-link.bin'));
  });
  afterAll(() => removeTree(dir));

  it('scan shows progress and then the summary', () => {
    // Progress is drawn at each commit: commit after every directory, so the walk shows too.
    const out = onTerminal(['scan', tree, '--catalog', cat], '', {
      HASHALL_TEST_SMALL_COMMITS: '1',
    });
    expect(out).toMatch(/walking {2}4 files in 1 directories, \d hashed/);
    expect(out).toMatch(/hashing {2}\[/);
    expect(out).toMatch(/✅ Scan complete/);
    expect(out).not.toMatch(/\{(done|bytes|rate)\}/);
  });

  it('execute asks first: no changes nothing, yes executes', () => {
    expect(hashall(['conductor', 'plan', 'tty', '--catalog', cat, '-q']).code).toBe(0);
    const no = onTerminal(['conductor', 'execute', '1', '--catalog', cat], 'n\n');
    expect(no).toMatch(/Replace these files with hardlinks now\? \[y\/N\]/);
    expect(no).toMatch(/Nothing done\./);
    expect(lstatSync(join(tree, 'a.bin')).ino).not.toBe(lstatSync(join(tree, 'b.bin')).ino);
    const yes = onTerminal(['conductor', 'execute', '1', '--catalog', cat], 'y\n');
    expect(yes).toMatch(/✅ Executed: 1/);
    expect(lstatSync(join(tree, 'a.bin')).ino).toBe(lstatSync(join(tree, 'b.bin')).ino);
  });
});
