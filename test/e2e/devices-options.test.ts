/**
 * `devices show` and `devices alias` honour --catalog, --json and --quiet written before or
 * after the subcommand (issue 12 §6.2): commander handed them to `devices`, and the
 * subcommands used the default catalog and printed text.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

describe('devices show / alias options', () => {
  let dir: string;
  let cat: string;
  let home: string;
  let alias: string;
  beforeAll(() => {
    dir = tempDir('hashall-devopts-');
    cat = join(dir, 'catalog.db');
    home = join(dir, 'home');
    mkdirSync(home);
    writeTree(join(dir, 'tree'), { 'a.txt': 'a' });
    expect(hashall(['scan', join(dir, 'tree'), '--catalog', cat, '--quiet']).code).toBe(0);
    alias = hashall(['devices', '--catalog', cat, '--json']).json<{
      devices: { alias: string }[];
    }>().devices[0]!.alias;
  });
  afterAll(() => removeTree(dir));

  /** Run with HOME elsewhere: the default catalog must never be opened or created. */
  const run = (args: string[]) => {
    const r = hashall(args, { env: { HOME: home } });
    expect(existsSync(join(home, '.hashall'))).toBe(false);
    return r;
  };

  it('show: --catalog and --json before or after the subcommand', () => {
    for (const args of [
      ['devices', 'show', alias, '--catalog', cat, '--json'],
      ['devices', '--catalog', cat, '--json', 'show', alias],
      ['devices', '--catalog', cat, 'show', alias, '--json'],
      ['devices', '--json', 'show', alias, '--catalog', cat],
    ]) {
      const r = run(args);
      expect({ args, stderr: r.stderr, code: r.code }).toEqual({ args, stderr: '', code: 0 });
      expect(r.json<{ alias: string; files: number }>()).toMatchObject({ alias, files: 1 });
    }
  });

  it('show and alias: --quiet before or after the subcommand prints nothing', () => {
    expect(run(['devices', '--quiet', 'show', alias, '--catalog', cat]).stdout).toBe('');
    expect(run(['devices', 'show', alias, '--catalog', cat, '--quiet']).stdout).toBe('');
    const r = run(['devices', '--quiet', '--catalog', cat, 'alias', alias, 'renamed']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const back = run(['devices', 'alias', 'renamed', alias, '--catalog', cat, '--quiet']);
    expect(back.code).toBe(0);
    expect(back.stdout).toBe('');
  });

  it('alias: --catalog and --json before or after the subcommand', () => {
    const a = run(['devices', '--catalog', cat, '--json', 'alias', alias, 'pool2']);
    expect(a.code).toBe(0);
    expect(a.json<{ alias: string }>().alias).toBe('pool2');
    const b = run(['devices', 'alias', 'pool2', alias, '--catalog', cat, '--json']);
    expect(b.code).toBe(0);
    expect(b.json<{ alias: string }>().alias).toBe(alias);
    const list = run(['devices', '--catalog', cat, '--json']);
    expect(list.json<{ devices: { alias: string }[] }>().devices.map((d) => d.alias)).toEqual([
      alias,
    ]);
  });
});
