/** `hashall --version` is the package's version, as an installed CLI reports it. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('hashall --version', () => {
  it("prints package.json's version and exits 0", () => {
    const r = hashall(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect(r.stderr).toBe('');
  });
});
