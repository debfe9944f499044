/**
 * The program bundle's code cache (src/cli/code-cache.ts), across real processes: each load
 * runs in a Node process of its own, as commands do, and says what it did with the cache.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeTree, tempDir } from '../helpers/fs.js';

const CODE_CACHE = new URL('../../dist/cli/code-cache.js', import.meta.url).href;
const PROGRAM = fileURLToPath(new URL('../../dist/cli/program.cjs', import.meta.url));

let dir: string;
let probe: string;
beforeEach(() => {
  dir = tempDir();
  probe = join(dir, 'probe.mjs');
  // Loads a bundle as the entry does, and prints what it exported and what the cache did.
  writeFileSync(
    probe,
    `import { loadBundle } from ${JSON.stringify(CODE_CACHE)};
     const r = loadBundle(process.argv[2], { debug: false });
     const value = typeof r.exports.value === 'string' ? r.exports.value : typeof r.exports.main;
     console.log(JSON.stringify({ value, cache: r.cache }));\n`,
  );
});
afterEach(() => removeTree(dir));

/** The user's cache folder for these tests: XDG_CACHE_HOME, with nothing of the caller's. */
function envFor(xdg: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: xdg };
  delete env.NODE_COMPILE_CACHE;
  delete env.NODE_DISABLE_COMPILE_CACHE;
  return { ...env, ...extra };
}

function load(bundle: string, env: NodeJS.ProcessEnv): { value: string; cache: unknown } {
  const r = spawnSync(process.execPath, [probe, bundle], { encoding: 'utf8', env });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { value: string; cache: unknown };
}

const cacheFiles = (xdg: string) => readdirSync(join(xdg, 'hashall', 'compile-cache'));

describe("the program bundle's code cache", () => {
  it('is written by the first command, as the user only may read it, and used by the next', () => {
    const xdg = join(dir, 'xdg');
    mkdirSync(xdg);
    const first = spawnSync(
      process.execPath,
      [PROGRAM.replace(/program\.cjs$/, 'main.js'), '--version'],
      {
        encoding: 'utf8',
        env: envFor(xdg),
      },
    );
    expect(first.status).toBe(0);
    const [file, ...more] = cacheFiles(xdg);
    expect(more).toEqual([]);
    const folder = join(xdg, 'hashall', 'compile-cache');
    expect(statSync(join(folder, file!)).mode & 0o777).toBe(0o600);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    // V8 takes the code that command left: nothing is compiled again.
    expect(load(PROGRAM, envFor(xdg))).toEqual({ value: 'function', cache: { kind: 'used' } });
  });

  it('compiles a rebuilt bundle afresh, even one of the same length, and runs its own code', () => {
    const xdg = join(dir, 'xdg');
    mkdirSync(xdg);
    const bundle = join(dir, 'program.cjs');
    // V8 checks the source's length, not its text: the cache file's own header must tell.
    const source = (v: string) => `module.exports = { value: (() => ${JSON.stringify(v)})() };\n`;
    writeFileSync(bundle, source('old!'));
    expect(load(bundle, envFor(xdg))).toEqual({
      value: 'old!',
      cache: { kind: 'compiled', reason: 'absent' },
    });
    expect(load(bundle, envFor(xdg))).toEqual({ value: 'old!', cache: { kind: 'used' } });
    writeFileSync(bundle, source('new!'));
    expect(load(bundle, envFor(xdg))).toEqual({
      value: 'new!',
      cache: { kind: 'compiled', reason: 'stale' },
    });
    expect(load(bundle, envFor(xdg))).toEqual({ value: 'new!', cache: { kind: 'used' } });
    // One file for the bundle's path, rewritten in place.
    expect(cacheFiles(xdg)).toHaveLength(1);
  });

  it('removes, as it writes, the files that no command has written for 30 days', () => {
    const xdg = join(dir, 'xdg');
    const folder = join(xdg, 'hashall', 'compile-cache');
    mkdirSync(folder, { recursive: true });
    const day = 86_400;
    const now = Date.now() / 1000;
    const aged = (name: string, days: number) => {
      writeFileSync(join(folder, name), 'x');
      utimesSync(join(folder, name), now - days * day, now - days * day);
    };
    aged('program-0badc0de-v20.0.0-x64.v8', 31); // an older install's, or Node's
    aged('program-0badc0de-v20.0.0-x64.v8.4242.tmp', 31); // a write cut short
    aged('program-12345678-v20.0.0-x64.v8', 29); // written within the month
    aged('something-else', 400); // not ours
    load(PROGRAM, envFor(xdg));
    const left = cacheFiles(xdg);
    expect(left).toHaveLength(3);
    expect(left).toContain('program-12345678-v20.0.0-x64.v8');
    expect(left).toContain('something-else');
    expect(left.filter((f) => f.endsWith(`-${process.version}-${process.arch}.v8`))).toHaveLength(
      1,
    );
  });

  it('compiles afresh, and replaces the file, where V8 rejects what it holds', () => {
    const xdg = join(dir, 'xdg');
    mkdirSync(xdg);
    load(PROGRAM, envFor(xdg));
    const file = join(xdg, 'hashall', 'compile-cache', cacheFiles(xdg)[0]!);
    const good = readFileSync(file);
    // The header matches (the same bundle), the code after it is cut short.
    writeFileSync(file, good.subarray(0, 4096), { mode: 0o600 });
    expect(load(PROGRAM, envFor(xdg))).toEqual({
      value: 'function',
      cache: { kind: 'compiled', reason: 'rejected' },
    });
    expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'used' });
    // A header alone, and a file that is not one at all.
    writeFileSync(file, good.subarray(0, 12), { mode: 0o600 });
    expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'compiled', reason: 'stale' });
    writeFileSync(file, 'not a cache', { mode: 0o600 });
    expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'compiled', reason: 'stale' });
    expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'used' });
  });

  it('never runs code from a file that someone else owns or may write', () => {
    const xdg = join(dir, 'xdg');
    mkdirSync(xdg);
    load(PROGRAM, envFor(xdg));
    const file = join(xdg, 'hashall', 'compile-cache', cacheFiles(xdg)[0]!);
    chmodSync(file, 0o620);
    expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'compiled', reason: 'unsafe' });
    // Replaced by the user's own, which is then used.
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'used' });
    if (process.getuid?.() === 0) {
      chownSync(file, 65534, 65534);
      expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'compiled', reason: 'unsafe' });
      expect(statSync(file).uid).toBe(0);
    }
  });

  it('is off, and writes nothing, where Node is told so or no folder of the user’s own exists', () => {
    const xdg = join(dir, 'xdg');
    mkdirSync(xdg);
    expect(load(PROGRAM, envFor(xdg, { NODE_DISABLE_COMPILE_CACHE: '1' })).cache).toEqual({
      kind: 'off',
      reason: 'disabled',
    });
    expect(readdirSync(xdg)).toEqual([]);
    if (process.getuid?.() === 0) {
      chownSync(xdg, 65534, 65534);
      expect(load(PROGRAM, envFor(xdg)).cache).toEqual({ kind: 'off', reason: 'no-folder' });
      expect(readdirSync(xdg)).toEqual([]);
    }
    // A regular file where the folder would be made: compiled, nothing written, no error.
    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(load(PROGRAM, envFor(file)).cache).toEqual({ kind: 'compiled', reason: 'absent' });
    expect(readFileSync(file, 'utf8')).toBe('');
    // A folder the user chose for Node's compile cache holds this one too.
    const chosen = join(dir, 'chosen');
    load(PROGRAM, envFor(xdg, { NODE_COMPILE_CACHE: chosen }));
    // (Node 22.1+ keeps its own cache of the probe's modules there too, in a folder.)
    expect(readdirSync(chosen).filter((f) => f.startsWith('program-'))).toEqual([
      expect.stringMatching(/^program-.*\.v8$/),
    ]);
  });

  it('says in two lines, without a stack trace, that an installation without the program is incomplete', () => {
    const pkg = join(dir, 'pkg');
    mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
    copyFileSync(join(PROGRAM, '..', 'main.js'), join(pkg, 'dist', 'cli', 'main.js'));
    const r = spawnSync(process.execPath, [join(pkg, 'dist', 'cli', 'main.js'), 'stats'], {
      encoding: 'utf8',
      env: envFor(join(dir, 'xdg')),
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      `hashall: internal error: cannot load ${join(pkg, 'dist', 'cli', 'program.cjs')}: ENOENT: no such file or directory, open '${join(pkg, 'dist', 'cli', 'program.cjs')}'`,
      'hashall: the installation looks incomplete; reinstall hashall, or run again with --debug',
      '',
    ]);
  });
});
