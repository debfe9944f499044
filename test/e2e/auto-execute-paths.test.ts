/**
 * A scheduled auto-execute names every path absolutely (issue 12 §6.4): `--device .` or
 * `--device data` was written into the units and the crontab as given, and cron, which starts
 * jobs in $HOME, then failed with ENOENT.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall } from '../helpers/cli.js';
import {
  mountTmpfs,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';

interface ScheduleJson {
  command: string[];
  crontab: string;
  service: string;
  service_path: string;
}

describe('a schedule made with relative paths', () => {
  let dir: string;
  let tree: string;
  let home: string;
  beforeAll(() => {
    dir = tempDir('hashall-sched-');
    tree = join(dir, 'data');
    home = join(dir, 'home');
    mkdirSync(home);
    writeTree(tree, {
      'a/one.bin': Buffer.alloc(5000, 'x'),
      'b/one.bin': Buffer.alloc(5000, 'x'),
      'a/two.bin': Buffer.alloc(6000, 'y'),
      'b/two.bin': Buffer.alloc(6000, 'y'),
    });
    expect(hashall(['scan', tree, '--catalog', join(dir, 'catalog.db'), '--quiet']).code).toBe(0);
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  const schedule = (cwd: string, device: string, catalog: string, extra: string[] = []) => {
    const r = hashall(
      [
        'conductor',
        'auto-execute',
        '--device',
        device,
        '--min-savings',
        '1',
        '--weekly',
        ...extra,
        '--catalog',
        catalog,
        '--json',
      ],
      { cwd, env: { HOME: home, XDG_CONFIG_HOME: '' } },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.json<ScheduleJson>();
  };
  const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1]!;

  it('writes no relative path: the device is an alias or absolute, a scope absolute', () => {
    for (const [cwd, device, catalog] of [
      [tree, '.', '../catalog.db'],
      [dir, 'data', 'catalog.db'],
      [join(tree, 'a'), '../b', '../../catalog.db'],
    ] as const) {
      const doc = schedule(cwd, device, catalog);
      const argv = doc.command;
      expect(after(argv, '--catalog')).toBe(join(dir, 'catalog.db'));
      for (const arg of [argv[0]!, argv[1]!]) expect(isAbsolute(arg)).toBe(true);
      // A directory inside a filesystem is a scope: the filesystem by its alias, the
      // directory as an absolute PATH after `--`.
      const dev = after(argv, '--device');
      expect(isAbsolute(dev) || !dev.includes('/')).toBe(true);
      expect(dev).not.toBe(device);
      expect(argv.slice(argv.indexOf('--') + 1)).toEqual([join(cwd, device)]);
    }
  });

  it('the crontab line, run from $HOME as cron does, finds the device and deduplicates', (ctx) => {
    // The tree on a filesystem of its own: from $HOME, `.` names another filesystem.
    requireMounts(ctx);
    const mnt = join(dir, 'mnt');
    mountTmpfs(mnt, 16);
    const tree = join(mnt, 'data');
    writeTree(tree, {
      'a/one.bin': Buffer.alloc(5000, 'x'),
      'b/one.bin': Buffer.alloc(5000, 'x'),
      'a/two.bin': Buffer.alloc(6000, 'y'),
      'b/two.bin': Buffer.alloc(6000, 'y'),
    });
    const cat = join(dir, 'mnt.db');
    expect(hashall(['scan', tree, '--catalog', cat, '--quiet']).code).toBe(0);
    // From the mount point itself, `.` is the whole filesystem (no scope): it must be written
    // as the absolute mount point, which cron's `.` ($HOME) is not.
    const doc = schedule(mnt, '.', '../mnt.db', ['--install']);
    expect(after(doc.command, '--device')).toBe(mnt);
    expect(doc.crontab).toContain(` --device ${mnt} `);
    // --install wrote the same command into the unit.
    expect(readFileSync(doc.service_path, 'utf8')).toBe(doc.service);
    const fields = doc.crontab.split(' ').slice(0, 5).join(' ');
    const command = doc.crontab.slice(fields.length + 1).replace(/\\%/g, '%');
    const r = spawnSync('sh', ['-c', command], {
      cwd: home,
      env: { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Executed: 2\n/);
    expect(lstatSync(join(tree, 'a/one.bin')).ino).toBe(lstatSync(join(tree, 'b/one.bin')).ino);
  });
});
