/**
 * The published command is the bundle (scripts/build.mjs): a package holding exactly the files
 * `npm pack` publishes — no tsc module tree — runs scans (hashing worker threads included),
 * the conductor and reports, and loads the `pg` driver (bundled, a file of its own) only for a
 * postgresql:// catalog.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `files` copied into `to` as a package, with this checkout's dependencies linked beside them,
 * less the PostgreSQL driver's packages (pg*): the bundle carries its own copy.
 */
function installPackage(to: string, files: readonly string[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(REPO, f), join(to, f));
  }
  mkdirSync(join(to, 'node_modules'));
  for (const name of readdirSync(join(REPO, 'node_modules'))) {
    if (!name.startsWith('pg'))
      symlinkSync(join(REPO, 'node_modules', name), join(to, 'node_modules', name));
  }
}

describe('the published bundle', () => {
  let dir: string;
  let pkg: string;
  let published: string[];
  /** The published chunks that hold the `pg` driver. */
  let pgChunks: string[];
  beforeAll(() => {
    dir = tempDir();
    pkg = join(dir, 'pkg');
    // What `npm pack` would put in the tarball (files of package.json), without building.
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: REPO,
      encoding: 'utf8',
    });
    expect(pack.status, pack.stderr).toBe(0);
    published = (JSON.parse(pack.stdout) as [{ files: { path: string }[] }])[0].files.map(
      (f) => f.path,
    );
    // The driver's own text: which chunks a SQLite command must never load.
    const pgCode = (f: string) =>
      /Client was passed a null or undefined query/.test(readFileSync(join(REPO, f), 'utf8'));
    pgChunks = published.filter((f) => /^dist\/chunks\/.*\.cjs$/.test(f) && pgCode(f));
    // Published without those chunks: a SQLite command must not need them.
    installPackage(
      pkg,
      published.filter((f) => !pgChunks.includes(f)),
    );
    // The native addon as built here (the install step builds it in a real install).
    if (existsSync(join(REPO, 'build'))) symlinkSync(join(REPO, 'build'), join(pkg, 'build'));
    writeTree(join(dir, 'tree'), {
      'a/one.bin': 'the same twenty bytes',
      'b/two.bin': 'the same twenty bytes',
      'c/other.bin': 'not the same at all!!',
    });
  });
  afterAll(() => removeTree(dir));

  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(pkg, 'dist', 'cli', 'bin.js'), ...args], {
      encoding: 'utf8',
      // The code cache of this temporary package's path stays in the test's folder.
      env: { ...process.env, HASHALL_CATALOG: '', XDG_CACHE_HOME: dir, ...env },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('publishes the bundle, not the module tree', () => {
    const code = published.filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    expect(code).toContain('dist/cli/bin.js');
    expect(code).toContain('dist/cli/main.js');
    // The program itself: one CommonJS file that main.js compiles with V8's code cache. It is
    // built from ES modules, which are always strict: so is it (the directive comes first).
    expect(published).toContain('dist/cli/program.cjs');
    expect(readFileSync(join(REPO, 'dist/cli/program.cjs'), 'utf8')).toMatch(/^'use strict';\n/);
    expect(code).toContain('dist/scan/hash-worker.js');
    expect(code).toContain('dist/catalog/usage-worker.js');
    expect(code).toContain('dist/catalog/checkpoint-worker.js');
    // Besides the five entries, only chunks (code that some commands load, on use).
    expect(code.filter((f) => !f.startsWith('dist/chunks/'))).toHaveLength(5);
    expect(code.length).toBeLessThan(12);
  });

  it('scans with hashing workers, analyzes and reports from those files alone, without pg', () => {
    // The driver's chunk was found, and left out.
    expect(pgChunks).toEqual(['dist/chunks/pg.cjs']);
    const db = join(dir, 'c.db');
    const version = run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);

    for (const native of ['1', '0']) {
      // --debug: the first scan would say so had its usage worker (published too) not run.
      const scan = run(
        ['scan', join(dir, 'tree'), '--catalog', db, '--hash', 'all', '--json', '--debug'],
        { HASHALL_NATIVE: native },
      );
      expect(scan.code, scan.stderr).toBe(0);
      expect(scan.stderr).toBe('');
    }
    const analyze = run(['conductor', 'analyze', '--catalog', db, '--json']);
    expect(analyze.code, analyze.stderr).toBe(0);
    const a = JSON.parse(analyze.stdout) as { same_device: { bytes_saveable: number } };
    // Found by hashing (two files of one size, another of that size differs): the workers ran.
    expect(a.same_device.bytes_saveable).toBe('the same twenty bytes'.length);

    const stats = run(['stats', '--catalog', db]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/3 active/);
    const dupes = run(['dupes', '--catalog', db, '--format', 'csv']);
    expect(dupes.code, dupes.stderr).toBe(0);
    expect(dupes.stdout).toMatch(/one\.bin/);
    expect(dupes.stdout).toMatch(/two\.bin/);
    expect(dupes.stdout).not.toMatch(/other\.bin/);
  });

  it('loads the pg driver only for a postgresql:// catalog', () => {
    // Its chunk is absent from this package: reaching for it shows that only this command does.
    const r = run(['stats', '--catalog', 'postgresql://nobody@localhost:1/none']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot find module '\S*chunks\/pg\.cjs'/);
  });

  it('bundles the pg driver: a PostgreSQL command needs no pg package installed', () => {
    // Every published file, and still no pg* package: the command reaches the server with
    // the bundled driver, and reports that nothing listens there.
    const full = join(dir, 'full');
    installPackage(full, published);
    const r = spawnSync(
      process.execPath,
      [
        join(full, 'dist', 'cli', 'bin.js'),
        'stats',
        '--catalog',
        'postgresql://nobody@localhost:1/none',
      ],
      { encoding: 'utf8', env: { ...process.env, HASHALL_CATALOG: '', XDG_CACHE_HOME: dir } },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^hashall: error: cannot connect to catalog postgresql:\/\/nobody@localhost:1\/none: nothing listens/,
    );
    expect(r.stderr).not.toMatch(/Cannot find/);
  });

  it('names source files in a --debug stack trace, and shows none without --debug', () => {
    const missing = ['stats', '--catalog', join(dir, 'none', 'c.db')];
    const plain = run(missing);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/^hashall: error: no catalog at /);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    const debug = run([...missing, '--debug']);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/\n\s+at .*src\/catalog\/open\.ts:\d+:\d+/);
  });
});
