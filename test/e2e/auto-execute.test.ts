/**
 * `conductor auto-execute` on real trees: below the threshold nothing changes, above it the
 * plan runs; --rescan; the printed systemd unit and crontab line, run as printed; --install.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { hashall } from '../helpers/cli.js';
import {
  mktree,
  mountImage,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
} from '../helpers/fs.js';
import { contentDiff, snapshot, type Snapshot } from '../helpers/snapshot.js';

interface AutoJson {
  device: string;
  min_savings: number;
  ran: boolean;
  reason: string | null;
  rescan: { new: number; files: number } | null;
  plan: { id: number | null; mode: string; actions: number; bytes_saveable: number };
  execution: {
    executed: number;
    failed: number;
    bytes_saved: number;
    status: string;
    mode: string;
  } | null;
  log: string;
}

interface ScheduleJson {
  name: string;
  command: string[];
  service: string;
  timer: string;
  crontab: string;
  service_path: string;
  timer_path: string;
  installed: { path: string; state: string }[] | null;
  enable: string;
}

const inodes = (s: Snapshot) => new Set([...s.values()].map((e) => e.ino)).size;

function auto(cat: string, args: string[], env: Record<string, string> = {}) {
  return hashall(['conductor', 'auto-execute', ...args, '--catalog', cat], { env });
}

/** Cron and systemd give a job a bare environment: so does this. */
function bareEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C' };
}

let root: string;
afterAll(() => {
  unmountAll();
  if (root) removeTree(root);
});

describe('auto-execute', () => {
  let dir: string;
  beforeEach(() => {
    root ??= tempDir('hashall-auto-');
    dir = join(root, `case-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir);
  });

  it('below the threshold changes nothing and keeps no plan; at the threshold it deduplicates', () => {
    const tree = join(dir, 'pool with space', 't');
    const gen = mktree(tree, ['--files', '200', '--total-mb', '8', '--seed', '21']);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const before = snapshot(tree);

    const human = auto(cat, ['--device', tree, '--min-savings', '1GB']);
    expect(human.code).toBe(0);
    expect(human.stderr).toBe('');
    expect(human.stdout).toMatch(/^AUTO-EXECUTE .*run when the plan saves at least 1\.0 GB/);
    expect(human.stdout).toMatch(
      /\nNothing done: the plan would save .* \([\d,]+ bytes\), below --min-savings 1\.0 GB\. The plan was discarded; see .*\/logs\/auto-execute-/,
    );
    const below = auto(cat, ['--device', tree, '--min-savings', '1GB', '--json']);
    expect(below.code).toBe(0);
    const b = below.json<AutoJson>();
    expect(b).toMatchObject({ ran: false, reason: 'below-threshold', min_savings: 1e9 });
    expect(b.plan.id).toBeNull();
    expect(b.plan.bytes_saveable).toBe(gen.hardlink_dedupe_saving_bytes);
    expect(b.execution).toBeNull();
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    for (const [k, e] of before) expect(after.get(k)!.ino).toBe(e.ino);
    expect(
      hashall(['conductor', 'plans', '--catalog', cat, '--json']).json<{ plans: unknown[] }>()
        .plans,
    ).toEqual([]);
    expect(readFileSync(b.log, 'utf8')).toMatch(
      /nothing done: the plan would save \d+ bytes, below --min-savings 1000000000; the plan was discarded/,
    );

    // Exactly the threshold runs (in bytes, so that the boundary is exact).
    const at = auto(cat, [
      '--device',
      tree,
      '--min-savings',
      String(gen.hardlink_dedupe_saving_bytes),
      '--json',
    ]);
    expect(at.stderr).toBe('');
    expect(at.code).toBe(0);
    const a = at.json<AutoJson>();
    expect(a.ran).toBe(true);
    expect(a.plan.id).toBeGreaterThan(0);
    expect(a.execution).toMatchObject({ failed: 0, status: 'executed', mode: 'hardlink' });
    expect(a.execution!.bytes_saved).toBe(gen.hardlink_dedupe_saving_bytes);
    const done = snapshot(tree);
    expect(contentDiff(before, done)).toEqual([]);
    expect(inodes(done)).toBe(gen.distinct_inodes - gen.redundant_inodes);
    expect(readFileSync(a.log, 'utf8')).toMatch(/HARDLINK #\d+ executed/);
    const plans = hashall(['conductor', 'plans', '--catalog', cat, '--json']).json<{
      plans: { id: number; status: string }[];
    }>().plans;
    expect(plans).toEqual([expect.objectContaining({ id: a.plan.id, status: 'executed' })]);

    // Nothing left: a second run says so and exits 0, whatever the threshold.
    const again = auto(cat, ['--device', tree, '--min-savings', '0', '--json']).json<AutoJson>();
    expect(again).toMatchObject({ ran: false, reason: 'nothing' });
  });

  it('--rescan finds copies made since the last scan; without it they are not seen', () => {
    const tree = join(dir, 't');
    mktree(tree, ['--files', '60', '--total-mb', '2', '--seed', '3', '--dup-ratio', '0']);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    // New copies of a big file, after the scan.
    const big = readdirSync(tree, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
      .sort((x, y) => snapshotSize(y) - snapshotSize(x))[0]!;
    copyFileSync(big, join(tree, 'copy one'));
    copyFileSync(big, join(tree, 'copy two'));
    const before = snapshot(tree);
    const blind = auto(cat, ['--device', tree, '--min-savings', '1', '--json']).json<AutoJson>();
    expect(blind).toMatchObject({ ran: false, reason: 'nothing', rescan: null });
    const r = auto(cat, ['--device', tree, '--min-savings', '1', '--rescan', '--json']);
    expect(r.code).toBe(0);
    const doc = r.json<AutoJson>();
    expect(doc.rescan!.new).toBe(2);
    expect(doc.ran).toBe(true);
    expect(doc.execution!.executed).toBe(2);
    expect(doc.execution!.bytes_saved).toBe(2 * snapshotSize(big));
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    expect(after.get('copy one')!.ino).toBe(after.get('copy two')!.ino);
  });

  it('the printed systemd unit and crontab line run the exact command and deduplicate', () => {
    const tree = join(dir, "pool with 'quotes' and spaces", 't');
    mktree(tree, ['--files', '120', '--total-mb', '4', '--seed', '9']);
    const catDir = join(dir, "my cat's catalog");
    const cat = join(catDir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const home = join(dir, 'home');
    mkdirSync(home);
    const env = { HOME: home, XDG_CONFIG_HOME: '' };
    const args = ['--device', tree, '--min-savings', '1k', '--rescan', '--weekly'];
    const printed = auto(cat, args, env);
    expect(printed.code).toBe(0);
    const doc = auto(cat, [...args, '--json'], env).json<ScheduleJson>();
    expect(doc.service_path).toBe(join(home, '.config/systemd/user', `${doc.name}.service`));
    expect(doc.name).toMatch(/^hashall-auto-[A-Za-z0-9_.-]+-[0-9a-f]{8}$/);
    expect(doc.timer).toMatch(/\nOnCalendar=weekly\n/);
    expect(doc.timer).toMatch(/\nPersistent=true\n/);
    expect(doc.command[0]).toBe(process.execPath);
    expect(doc.command).toContain(cat);
    expect(doc.command).toContain(tree);
    expect(doc.command).not.toContain('--weekly');
    // The unit as printed, then the crontab line as printed.
    const lines = printed.stdout.split('\n');
    const execStart = lines.find((l) => l.startsWith('ExecStart='))!.slice('ExecStart='.length);
    expect(printed.stdout).toContain(doc.service);
    expect(printed.stdout).toContain(doc.timer);
    const cron = lines.find((l) => /^30 3 \* \* 0 /.test(l))!;
    expect(cron).toBe(doc.crontab);
    expect(printed.stdout).toContain(
      `systemctl --user daemon-reload && systemctl --user enable --now ${doc.name}.timer`,
    );

    const before = snapshot(tree);
    const viaUnit = spawnSync('sh', ['-c', execStart], { env: bareEnv(home), encoding: 'utf8' });
    expect(viaUnit.stderr).toBe('');
    expect(viaUnit.status).toBe(0);
    expect(viaUnit.stdout).toMatch(/\nExecuted: [1-9]/);
    const mid = snapshot(tree);
    expect(contentDiff(before, mid)).toEqual([]);
    expect(inodes(mid)).toBeLessThan(inodes(before));

    // New copies, then the crontab line (cron turns \% into %, and runs it with sh).
    const some = [...mid.values()].find((e) => e.size > 1000)!;
    copyFileSync(join(tree, some.path.toString()), join(tree, 'new copy'));
    const fields = cron.split(' ').slice(0, 5).join(' ');
    expect(fields).toBe('30 3 * * 0');
    const command = cron.slice(fields.length + 1).replace(/\\%/g, '%');
    const viaCron = spawnSync('sh', ['-c', command], { env: bareEnv(home), encoding: 'utf8' });
    expect(viaCron.stderr).toBe('');
    expect(viaCron.status).toBe(0);
    expect(viaCron.stdout).toMatch(/Rescanned .*: [\d,]+ files, 1 new/);
    expect(viaCron.stdout).toMatch(/\nExecuted: 1\n/);
    const end = snapshot(tree);
    expect(end.get('new copy')!.ino).toBe(end.get(some.path.toString())!.ino);
    // Every run left a log beside the catalog.
    expect(
      readdirSync(join(catDir, 'logs')).filter((f) => f.startsWith('auto-execute-')),
    ).not.toEqual([]);
  });

  it('--install writes the user units ($XDG_CONFIG_HOME, else ~/.config) and never runs systemctl', (ctx) => {
    const tree = join(dir, 't');
    mktree(tree, ['--files', '30', '--total-mb', '1', '--seed', '4']);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const home = join(dir, 'home');
    const xdg = join(dir, 'xdg config');
    mkdirSync(home);
    const args = [
      '--device',
      tree,
      '--min-savings',
      '500MiB',
      '--schedule',
      'monthly',
      '--install',
    ];
    const viaHome = auto(cat, args, { HOME: home, XDG_CONFIG_HOME: '' });
    expect(viaHome.code).toBe(0);
    expect(viaHome.stdout).toMatch(/ok Installed the systemd user units:/);
    expect(viaHome.stdout).toMatch(
      /systemctl --user daemon-reload && systemctl --user enable --now hashall-auto-\S+\.timer/,
    );
    const unitDir = join(home, '.config', 'systemd', 'user');
    const files = readdirSync(unitDir).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/\.service$/);
    expect(files[1]).toMatch(/\.timer$/);
    const doc = auto(cat, [...args, '--json'], {
      HOME: home,
      XDG_CONFIG_HOME: '',
    }).json<ScheduleJson>();
    expect(doc.installed!.map((i) => i.state)).toEqual(['unchanged', 'unchanged']);
    expect(readFileSync(doc.service_path, 'utf8')).toBe(doc.service);
    expect(readFileSync(doc.timer_path, 'utf8')).toBe(doc.timer);
    expect(doc.timer).toMatch(/OnCalendar=monthly/);
    expect(doc.service).toMatch(/--min-savings 500MiB/);

    const viaXdg = auto(cat, [...args, '--json'], {
      HOME: home,
      XDG_CONFIG_HOME: xdg,
    }).json<ScheduleJson>();
    expect(viaXdg.installed!.map((i) => i.state)).toEqual(['written', 'written']);
    expect(existsSync(join(xdg, 'systemd', 'user', `${viaXdg.name}.timer`))).toBe(true);

    // systemd's own checker, when this machine has it.
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.warn('skipping systemd-analyze verify: systemd-analyze is not installed');
      ctx.skip('systemd-analyze is not installed');
      return;
    }
    const runtime = join(dir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const v = spawnSync(
      'systemd-analyze',
      ['verify', '--user', viaXdg.service_path, viaXdg.timer_path],
      {
        encoding: 'utf8',
        env: { ...process.env, XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: xdg },
      },
    );
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
  });

  it("takes the plan's filters and keep rules, and schedules them in canonical form", () => {
    const tree = join(dir, 't');
    mktree(tree, ['--files', '150', '--total-mb', '6', '--seed', '17']);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const before = snapshot(tree);
    const r = hashall(
      [
        'conductor',
        'auto-execute',
        '--device',
        't',
        '--min-savings',
        '1',
        '--exclude',
        '*.json',
        '--min-size',
        '1k',
        '--keep',
        'prefer=t/zzz-not-there',
        '--keep',
        'newest',
        '--catalog',
        cat,
        '--json',
      ],
      { cwd: dir },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = r.json<AutoJson & { plan: { keep: string[]; filters: { exclude: string[] } } }>();
    expect(doc.ran).toBe(true);
    expect(doc.plan.keep).toEqual([`prefer=${join(dir, 't', 'zzz-not-there')}`, 'newest']);
    expect(doc.plan.filters).toMatchObject({ exclude: ['*.json'], min_size: 1024 });
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    for (const [k, e] of before) {
      if (k.endsWith('.json') || e.size < 1024) expect(after.get(k)!.ino).toBe(e.ino);
    }
    expect(inodes(after)).toBeLessThan(inodes(before));

    const sched = hashall(
      [
        'conductor',
        'auto-execute',
        '--device',
        't',
        '--min-savings',
        '1.5GB',
        '--exclude',
        '*.json',
        '--min-size',
        '1k',
        '--mtime-since',
        '@1600000000',
        '--keep',
        'prefer=t',
        '--schedule',
        'daily',
        '--catalog',
        cat,
        '--json',
      ],
      { cwd: dir },
    ).json<ScheduleJson>();
    const argv = sched.command;
    const after2 = (flag: string) => argv[argv.indexOf(flag) + 1];
    // 't' is no alias here but a directory inside /tmp's filesystem: the unit names that
    // filesystem by its alias and the directory as an absolute PATH (the scope).
    expect(after2('--device')).not.toContain('/');
    expect(argv.slice(-2)).toEqual(['--', join(dir, 't')]);
    expect(after2('--min-savings')).toBe('1.5GB');
    expect(after2('--min-size')).toBe('1024');
    expect(after2('--mtime-since')).toBe('2020-09-13T12:26:40Z');
    expect(after2('--exclude')).toBe('*.json');
    expect(after2('--keep')).toBe(`prefer=${join(dir, 't')}`);
    expect(after2('--catalog')).toBe(cat);
  });

  it('bad values exit 2 with one line', () => {
    const tree = join(dir, 't');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a'), 'x');
    const cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const cases: [string[], RegExp][] = [
      [
        ['--device', tree, '--min-savings', 'ten'],
        /^hashall: error: --min-savings: 'ten' is not a size/,
      ],
      [['--device', tree], /required option '--min-savings <size>' not specified/],
      [['--min-savings', '1GB'], /required option '--device <path>' not specified/],
      [
        ['--device', tree, '--min-savings', '1', '--install'],
        /^hashall: error: --install needs --schedule/,
      ],
      [
        ['--device', tree, '--min-savings', '1', '--schedule', 'hourly'],
        /Allowed choices are daily, weekly, monthly/,
      ],
      [
        ['--device', tree, '--min-savings', '1', '--scan-exclude', 'x'],
        /^hashall: error: --scan-exclude and --one-file-system apply to --rescan/,
      ],
      [['--device', tree, '--min-savings', '1', '--mode', 'copy'], /use one of: hardlink, reflink/],
      [
        ['--device', '/nonexistent', '--min-savings', '1'],
        /^hashall: error: --device \/nonexistent: ENOENT/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = auto(cat, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stdout).toBe('');
    }
  });
});

function snapshotSize(p: string): number {
  return readFileSync(p).length;
}

describe('auto-execute --mode reflink (XFS)', () => {
  it('clones above the threshold; the next run finds every copy already sharing its blocks', (ctx) => {
    requireMounts(ctx);
    root ??= tempDir('hashall-auto-');
    const mnt = join(root, 'xfs');
    mountImage(join(root, 'xfs.img'), mnt, 'xfs', 320);
    const tree = join(mnt, 't');
    mktree(tree, ['--files', '150', '--total-mb', '12', '--seed', '8']);
    const cat = join(root, 'xfs.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const before = snapshot(tree);
    const r = auto(cat, ['--device', mnt, '--min-savings', '1MiB', '--mode', 'reflink', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = r.json<AutoJson>();
    expect(doc.ran).toBe(true);
    expect(doc.plan.mode).toBe('reflink');
    expect(doc.execution).toMatchObject({ failed: 0, status: 'executed', mode: 'reflink' });
    expect(doc.execution!.bytes_saved).toBe(doc.plan.bytes_saveable);
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    expect(inodes(after)).toBeGreaterThanOrEqual(inodes(before)); // clones, never links
    // Weekly runs must not clone the same files again for savings that are already made.
    const next = auto(cat, [
      '--device',
      mnt,
      '--min-savings',
      '1',
      '--mode',
      'reflink',
      '--rescan',
      '--json',
    ]).json<AutoJson>();
    expect(next).toMatchObject({ ran: false, reason: 'nothing' });
    expect(next.plan.bytes_saveable).toBe(0);
  });
});
