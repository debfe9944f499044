/** `hashall --version` is the package's version, as an installed CLI reports it. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
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

  it("turns on Node's compile cache where Node has it (22.1+)", () => {
    const cache = mkdtempSync(join(tmpdir(), 'hashall-ncc-'));
    try {
      // The cache's default place is $TMPDIR/node-compile-cache; nothing but the entry's own
      // call turns it on (NODE_COMPILE_CACHE, which would, is removed).
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: cache };
      delete env.NODE_COMPILE_CACHE;
      const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env });
      expect(r.status).toBe(0);
      const hasCache = 'enableCompileCache' in module;
      expect(readdirSync(cache)).toEqual(hasCache ? ['node-compile-cache'] : []);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
