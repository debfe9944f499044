/**
 * Loading the native walk (src/fs/native.ts): a package whose addon was never built (no compiler
 * at install time) scans with the JS walk and says why only under --debug; HASHALL_NATIVE=0
 * chooses the JS walk silently.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

describe('native walk loader', () => {
  let dir: string;
  let tree: string;
  let unbuiltCli: string;
  beforeAll(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    writeTree(tree, { 'a/x.txt': 'same', 'b/y.txt': 'same' });
    // An installed package whose install step could not build the addon: dist/ and its
    // dependencies, no build/ and no prebuilds/.
    const pkg = join(dir, 'pkg');
    mkdirSync(pkg);
    cpSync(join(REPO, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(REPO, 'package.json'), join(pkg, 'package.json'));
    symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
    unbuiltCli = join(pkg, 'dist', 'cli', 'main.js');
  });
  afterAll(() => removeTree(dir));

  const runCli = (cli: string, args: string[]) => {
    const r = spawnSync(process.execPath, [cli, ...args], {
      encoding: 'utf8',
      // The code cache of this temporary package's path stays in the test's folder.
      env: { ...process.env, HASHALL_CATALOG: '', HASHALL_NATIVE: '', XDG_CACHE_HOME: dir },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('without a built addon: scans with the JS walk, and says why only with --debug', () => {
    const withDebug = runCli(unbuiltCli, [
      'scan',
      tree,
      '--catalog',
      join(dir, 'u1.db'),
      '--debug',
    ]);
    expect(withDebug.code).toBe(0);
    expect(withDebug.stderr).toMatch(
      /^hashall: debug: native walk not loaded \(No native build was found[^\n]*\); using the JS walk$/m,
    );
    const quiet = runCli(unbuiltCli, ['scan', tree, '--catalog', join(dir, 'u2.db')]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/native/);
    expect(quiet.stdout).toMatch(/2 files/);
  });

  it('HASHALL_NATIVE=0 takes the JS walk without a word', () => {
    const off = hashall(['scan', tree, '--catalog', join(dir, 'o.db'), '--debug'], {
      env: { HASHALL_NATIVE: '0' },
    });
    expect(off.code).toBe(0);
    expect(off.stderr).not.toMatch(/native/);
    expect(off.stdout).toMatch(/2 files/);
  });
});
