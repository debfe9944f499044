import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import {
  cronCommand,
  scheduleText,
  shQuote,
  systemdQuote,
  unitName,
  userUnitDir,
} from '../../src/conductor/schedule.js';

const HOSTILE = [
  'plain',
  '/with space/x',
  "it's",
  'a"b',
  'back\\slash',
  '$HOME',
  '`id`',
  '100%',
  'new\nline',
  'tab\there',
  '*',
  '',
  '-- --x',
  'ünïcode',
];

describe('quoting for schedules', () => {
  it('sh quoting gives back every argument exactly (checked by sh itself)', () => {
    const line = HOSTILE.map(shQuote).join(' ');
    const r = spawnSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
  });

  it('a crontab command escapes % (cron would make it a newline) and stays one line', () => {
    const cmd = cronCommand(['/usr/bin/node', '100%', 'new\nline']);
    expect(cmd).not.toMatch(/\n/);
    expect(cmd).not.toMatch(/(^|[^\\])%/);
    // What cron hands to sh after turning \% back into %:
    const r = spawnSync(
      'sh',
      ['-c', `printf '%s\\0' ${cronCommand(['100%', "it's"]).replace(/\\%/g, '%')}`],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(['100%', "it's"]);
  });

  it('systemd quoting doubles % and $, escapes \\ and ", and quotes anything unsafe', () => {
    expect(systemdQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(systemdQuote('/a b/c')).toBe('"/a b/c"');
    expect(systemdQuote('100%')).toBe('"100%%"');
    expect(systemdQuote('$HOME')).toBe('"$$HOME"');
    expect(systemdQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(systemdQuote("it's")).toBe('"it\'s"');
    expect(systemdQuote('new\nline')).toBe('"new\\nline"');
    expect(systemdQuote('')).toBe('""');
  });

  it('unit names are safe and tell catalogs apart', () => {
    expect(unitName('pool', '/root/.hashall/catalog.db', '/root/.hashall/catalog.db')).toBe(
      'hashall-auto-pool',
    );
    const other = unitName('my pool/ü', '/srv/c.db', '/root/.hashall/catalog.db');
    expect(other).toMatch(/^hashall-auto-my_pool__-[0-9a-f]{8}$/);
    expect(unitName('my pool/ü', '/srv/d.db', '/root/.hashall/catalog.db')).not.toBe(other);
  });

  it('units: a oneshot service with the command, a persistent timer', () => {
    const t = scheduleText(
      'hashall-auto-pool',
      'daily',
      ['/usr/bin/node', '/a b/main.js'],
      '50% of /pool',
    );
    expect(t.service).toMatch(/^\[Unit\]\nDescription=hashall: 50%% of \/pool\n/);
    expect(t.service).toMatch(/\nType=oneshot\nExecStart=\/usr\/bin\/node "\/a b\/main.js"\n/);
    expect(t.timer).toMatch(/\nOnCalendar=daily\nPersistent=true\n/);
    expect(t.timer).toMatch(/\[Install\]\nWantedBy=timers.target\n$/);
    expect(t.crontab).toBe("30 3 * * * /usr/bin/node '/a b/main.js'");
  });

  it('the user unit directory follows XDG_CONFIG_HOME, else HOME', () => {
    expect(userUnitDir({ HOME: '/h', XDG_CONFIG_HOME: '/x' })).toBe('/x/systemd/user');
    expect(userUnitDir({ HOME: '/h', XDG_CONFIG_HOME: '' })).toBe('/h/.config/systemd/user');
    expect(userUnitDir({ HOME: '/h', XDG_CONFIG_HOME: 'relative' })).toBe(
      '/h/.config/systemd/user',
    );
  });
});
