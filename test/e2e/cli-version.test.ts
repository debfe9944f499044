/** `hashall --version` is the package's version, as an installed CLI reports it. */
import { spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  bin: { hashall: string };
};

describe('hashall --version', () => {
  it("prints package.json's version and exits 0", () => {
    const r = hashall(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect(r.stderr).toBe('');
  });
});

describe('the installed entry point (package.json "bin")', () => {
  const bin = fileURLToPath(new URL(`../../${pkg.bin.hashall}`, import.meta.url));

  it('runs the command line: output and exit status pass through', () => {
    const ok = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`${pkg.version}\n`);
    const refused = spawnSync(process.execPath, [bin, 'stats', '--catalog', '/nonexistent/c.db'], {
      encoding: 'utf8',
    });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^hashall: error: no catalog at \/nonexistent\/c\.db;/);
  });

  // The machine's Node, and another line's where CI names one (HASHALL_OTHER_ABI_NODE): `--version`
  // opens no catalog, so a better-sqlite3 built for another Node does not matter here.
  const nodes = [
    process.execPath,
    ...(process.env.HASHALL_OTHER_ABI_NODE ? [process.env.HASHALL_OTHER_ABI_NODE] : []),
  ];
  const hasCache = (node: string) =>
    spawnSync(node, ['-p', "typeof require('node:module').enableCompileCache"], {
      encoding: 'utf8',
    }).stdout.trim() === 'function';
  /** The entry's environment without any compile-cache setting of the caller's. */
  const cleanEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_COMPILE_CACHE;
    delete env.NODE_DISABLE_COMPILE_CACHE;
    return { ...env, ...extra };
  };
  const version = (node: string, env: NodeJS.ProcessEnv) => {
    const r = spawnSync(node, [bin, '--version'], { encoding: 'utf8', env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  };

  describe.each(nodes)('on %s', (node) => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'hashall-ncc-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("keeps the program's code cache, and Node's where it has one (22.1+), in the user's cache folder", () => {
      const xdg = join(dir, 'xdg');
      mkdirSync(xdg);
      version(node, cleanEnv({ XDG_CACHE_HOME: xdg, TMPDIR: dir }));
      const cache = join(xdg, 'hashall', 'compile-cache');
      const v = spawnSync(node, ['-p', 'process.version + "-" + process.arch'], {
        encoding: 'utf8',
      }).stdout.trim();
      const entries = readdirSync(cache);
      // The program bundle's code, on every line (src/cli/code-cache.ts).
      expect(entries.filter((e) => e.endsWith('.v8'))).toEqual([
        expect.stringMatching(new RegExp(`^program-[0-9a-f]{8}-${v}\\.v8$`)),
      ]);
      const perNode = entries.filter((e) => !e.endsWith('.v8'));
      if (hasCache(node)) {
        // Node's: one folder per Node version, holding the compiled code of the files that ran.
        expect(perNode).toHaveLength(1);
        expect(readdirSync(join(cache, perNode[0]!)).length).toBeGreaterThan(0);
      } else {
        expect(perNode).toEqual([]);
      }
      // Nothing in the temporary folder (Node's own default place for it).
      expect(readdirSync(dir)).toEqual(['xdg']);
      // Without XDG_CACHE_HOME: ~/.cache.
      mkdirSync(join(dir, 'home'));
      version(node, cleanEnv({ XDG_CACHE_HOME: '', HOME: join(dir, 'home') }));
      expect(existsSync(join(dir, 'home', '.cache', 'hashall', 'compile-cache'))).toBe(true);
    });

    it('runs uncached and silent where the cache folder cannot be made, or is turned off', () => {
      // A regular file where a folder should be: not even root can create the cache there.
      writeFileSync(join(dir, 'file'), '');
      version(node, cleanEnv({ XDG_CACHE_HOME: join(dir, 'file') }));
      version(node, cleanEnv({ XDG_CACHE_HOME: '', HOME: join(dir, 'file') }));
      // No home at all: HOME unset falls back to the password database's entry; a relative
      // XDG_CACHE_HOME is invalid and ignored.
      const noHome = cleanEnv({ XDG_CACHE_HOME: 'relative', TMPDIR: dir });
      delete noHome.HOME;
      version(node, noHome);
      expect(existsSync(join(dir, 'relative'))).toBe(false);
      // A home or cache folder that is not ours (`sudo` keeping the user's $HOME): nothing is
      // created in it.
      if (process.getuid?.() === 0) {
        const theirs = join(dir, 'theirs');
        mkdirSync(theirs);
        chownSync(theirs, 65534, 65534);
        version(node, cleanEnv({ XDG_CACHE_HOME: '', HOME: theirs }));
        version(node, cleanEnv({ XDG_CACHE_HOME: theirs }));
        expect(readdirSync(theirs)).toEqual([]);
      }
      // Node's own switch wins.
      const off = join(dir, 'off');
      mkdirSync(off);
      version(node, cleanEnv({ XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' }));
      expect(readdirSync(off)).toEqual([]);
    });
  });
});
