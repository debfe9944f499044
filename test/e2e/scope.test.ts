/**
 * Scope (`plan NAME PATH...`, `--device DIR`): a directory never widens to its whole
 * filesystem. Real tmpfs mounts where the scope is a subdirectory and its siblings hold
 * duplicates that must not be touched (the 68,446-action bug: `--device /tmp/dir` planned all
 * of /tmp's filesystem), relative and non-UTF-8 PATHs, several PATHs on two filesystems, the
 * scope shown by plan, show-plan, plans, report and the scheduled units.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall, type CliResult } from '../helpers/cli.js';
import {
  bindMount,
  mountImage,
  mountTmpfs,
  mountUnavailableReason,
  removeTree,
  requireMounts,
  sh,
  tempDir,
  unmount,
  unmountAll,
} from '../helpers/fs.js';
import { mountSubvolume } from '../helpers/mounts.js';

interface Action {
  type: string;
  source: string;
  target: string;
  target_b64?: string;
  bytes: number;
  reason: string | null;
}
interface ScopeJson {
  path: string;
  path_b64?: string;
  device: string;
  fs_path: string;
}
interface PlanJson {
  id: number;
  bytes_saveable: number;
  actions: Record<string, number>;
  skip_reasons: Record<string, number>;
  scope: ScopeJson[];
}
interface ShowJson {
  scope: ScopeJson[];
  actions: Action[];
}

let base: string;
let m1: string; // tmpfs: the filesystem the scope is a directory of
let m2: string; // a second tmpfs, for PATHs on two filesystems
let cat: string;

const fill = (ch: string, n: number) => ch.repeat(n);
const ino = (p: string) => lstatSync(p).ino;

function run(args: string[], cwd?: string): CliResult {
  return hashall([...args, '--catalog', cat], cwd ? { cwd } : {});
}

function ok<T>(args: string[], cwd?: string): T {
  const r = run([...args, '--json'], cwd);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json<T>();
}

/** Run the CLI with some arguments given as raw bytes (Node's spawn takes only strings). */
function runRaw(args: (string | Buffer)[], cwd: string): CliResult {
  const env: Record<string, string> = { ...process.env, HASHALL_CATALOG: '' } as Record<
    string,
    string
  >;
  const words: string[] = [];
  args.forEach((a, i) => {
    if (typeof a === 'string') {
      env[`ARG${i}`] = a;
      words.push(`"$ARG${i}"`);
    } else {
      // printf '%b' turns \xNN escapes back into the bytes.
      env[`ARG${i}`] = [...a].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
      words.push(`"$(printf '%b' "$ARG${i}")"`);
    }
  });
  const r = spawnSync(
    'bash',
    ['-c', `exec "${process.execPath}" "${CLI}" ${words.join(' ')} --catalog "${cat}"`],
    { cwd, env, encoding: 'utf8' },
  );
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    json<T>() {
      return JSON.parse(r.stdout) as T;
    },
  };
}

/**
 * m1/scope:   a, b       (content A: a plain pair → one HARDLINK)
 *             e          (content C, its copy is in sibling/: one inode in scope, nothing to do)
 *             g1, g2     (content D, each also linked from sibling/: SKIP partly out of scope)
 *             sub/h      (content A too: replaced as well)
 * m1/sibling: c, d       (content B: a pair that must not be touched)
 *             e2, g1l, g2l
 * m1/caf\xe9: p, q       (content E: a pair under a non-UTF-8 directory name)
 * m2/other:   x, y       (content F: a pair on the second filesystem)
 */
function makeTree(): void {
  const w = (p: string, s: string) => {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, s);
  };
  w(join(m1, 'scope/a'), fill('A', 5000));
  w(join(m1, 'scope/b'), fill('A', 5000));
  w(join(m1, 'scope/sub/h'), fill('A', 5000));
  w(join(m1, 'scope/e'), fill('C', 3000));
  w(join(m1, 'sibling/e2'), fill('C', 3000));
  w(join(m1, 'scope/g1'), fill('D', 2000));
  w(join(m1, 'scope/g2'), fill('D', 2000));
  linkSync(join(m1, 'scope/g1'), join(m1, 'sibling/g1l'));
  linkSync(join(m1, 'scope/g2'), join(m1, 'sibling/g2l'));
  w(join(m1, 'sibling/c'), fill('B', 7000));
  w(join(m1, 'sibling/d'), fill('B', 7000));
  const caf = Buffer.concat([Buffer.from(`${m1}/caf`), Buffer.from([0xe9])]);
  mkdirSync(caf);
  writeFileSync(Buffer.concat([caf, Buffer.from('/p')]), fill('E', 4000));
  writeFileSync(Buffer.concat([caf, Buffer.from('/q')]), fill('E', 4000));
  w(join(m2, 'other/x'), fill('F', 6000));
  w(join(m2, 'other/y'), fill('F', 6000));
}

/** A fresh tree and catalog for tests that execute. */
function fresh(): void {
  for (const m of [m1, m2]) spawnSync('bash', ['-c', `rm -rf "${m}"/* "${m}"/.[!.]*`]);
  spawnSync('rm', ['-f', cat, `${cat}-wal`, `${cat}-shm`]);
  makeTree();
  const s = run(['scan', m1, m2, '--quiet']);
  expect(s.code, s.stderr).toBe(0);
}

beforeAll(() => {
  if (mountUnavailableReason()) return; // each test skips with the reason
  base = realpathSync(tempDir('hashall-scope-'));
  m1 = join(base, 'pool');
  m2 = join(base, 'stash');
  mountTmpfs(m1, 16);
  mountTmpfs(m2, 16);
  cat = join(base, 'catalog.db');
  fresh();
});

afterAll(() => {
  unmountAll();
  if (base) removeTree(base);
});

const targets = (show: ShowJson) => show.actions.map((a) => a.target);

describe('scope', () => {
  it('--device DIR inside a filesystem plans only DIR: siblings are never touched (regression: the whole filesystem was planned)', (ctx) => {
    requireMounts(ctx);
    fresh();
    const before = {
      c: ino(join(m1, 'sibling/c')),
      d: ino(join(m1, 'sibling/d')),
      e2: ino(join(m1, 'sibling/e2')),
    };
    const plan = ok<PlanJson>(['conductor', 'plan', 'scoped', '--device', join(m1, 'scope')]);
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0']);
    for (const t of targets(show)) expect(t.startsWith(`${m1}/scope/`), t).toBe(true);
    for (const a of show.actions) expect(a.source.startsWith(`${m1}/scope/`), a.source).toBe(true);
    // a, b and sub/h share content A: two replaced, 2 × 5000 bytes.
    expect(plan.actions.HARDLINK).toBe(2);
    expect(plan.bytes_saveable).toBe(10_000);
    expect(plan.skip_reasons).toEqual({ 'partly out of scope': 1 });
    expect(plan.scope).toEqual([
      { path: join(m1, 'scope'), device: expect.any(String), fs_path: '/scope' },
    ]);
    const ex = run(['conductor', 'execute', String(plan.id), '--force', '--json']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.json<{ bytes_saved: number }>().bytes_saved).toBe(10_000);
    expect(ino(join(m1, 'scope/b'))).toBe(ino(join(m1, 'scope/a')));
    expect(ino(join(m1, 'scope/sub/h'))).toBe(ino(join(m1, 'scope/a')));
    expect(ino(join(m1, 'sibling/c'))).toBe(before.c);
    expect(ino(join(m1, 'sibling/d'))).toBe(before.d);
    expect(ino(join(m1, 'sibling/e2'))).toBe(before.e2);
    expect(ino(join(m1, 'scope/g2'))).not.toBe(ino(join(m1, 'scope/g1')));
    expect(ino(join(m1, 'scope/e'))).not.toBe(ino(join(m1, 'sibling/e2')));
  });

  it('--device MOUNTPOINT and --device ALIAS still mean the whole filesystem', (ctx) => {
    requireMounts(ctx);
    fresh();
    const whole = ok<PlanJson>(['conductor', 'plan', 'whole', '--device', m1]);
    expect(whole.scope).toEqual([]);
    const show = ok<ShowJson>(['conductor', 'show-plan', String(whole.id), '--limit', '0']);
    expect(targets(show)).toContain(join(m1, 'sibling/d'));
    const dev = ok<{ devices: { alias: string; mount_point: string }[] }>(['devices']);
    const alias = dev.devices.find((d) => d.mount_point === m1)!.alias;
    const byAlias = ok<PlanJson>(['conductor', 'plan', 'alias', '--device', alias]);
    expect(byAlias.bytes_saveable).toBe(whole.bytes_saveable);
    // A: 2 × 5000, B: 7000, C: 3000, E: 4000, D: 2000 (g1l and g2l are catalogued links).
    expect(whole.bytes_saveable).toBe(10_000 + 7000 + 3000 + 4000 + 2000);
    // Commands that report on whole filesystems refuse a directory, saying how to get either.
    for (const args of [
      ['conductor', 'status', '--device', join(m1, 'scope')],
      ['export', '--device', join(m1, 'scope'), '--format', 'csv', '--out', '-'],
    ]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(`is a directory inside ${alias} .*give --device ${alias} \\(or ${m1}\\)`),
      );
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(run(args.map((a) => (a === join(m1, 'scope') ? m1 : a))).code).toBe(0);
    }
  });

  it('--device at a bind mount of one directory plans that directory, not its whole filesystem (regression: all of it was planned)', (ctx) => {
    requireMounts(ctx);
    fresh();
    // `mount --bind POOL/scope VIEW`: VIEW is a mount point, but it shows /scope only.
    const view = join(base, 'scopeview');
    bindMount(join(m1, 'scope'), view);
    try {
      const before = { c: ino(join(m1, 'sibling/c')), d: ino(join(m1, 'sibling/d')) };
      const plan = ok<PlanJson>(['conductor', 'plan', 'viabind', '--device', view]);
      expect(plan.scope).toEqual([{ path: view, device: expect.any(String), fs_path: '/scope' }]);
      // What `--device POOL/scope` plans: a, b and sub/h, nothing of sibling/.
      expect(plan.actions.HARDLINK).toBe(2);
      expect(plan.bytes_saveable).toBe(10_000);
      const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0']);
      for (const t of targets(show)) expect(t.startsWith(`${m1}/scope/`), t).toBe(true);
      const a = ok<{ same_device: { bytes_saveable: number }; scope: ScopeJson[] }>([
        'conductor',
        'analyze',
        '--device',
        view,
      ]);
      expect(a.scope).toEqual(plan.scope);
      expect(a.same_device.bytes_saveable).toBe(10_000);
      // Commands that report on whole filesystems refuse it as the directory it is.
      const r = run(['conductor', 'status', '--device', view]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is a directory inside \S+ \(mounted at /);
      const ex = run(['conductor', 'execute', String(plan.id), '--force', '--json']);
      expect(ex.code, ex.stderr).toBe(0);
      expect(ino(join(m1, 'sibling/c'))).toBe(before.c);
      expect(ino(join(m1, 'sibling/d'))).toBe(before.d);
    } finally {
      unmount(view);
    }
  });

  it('--device at a btrfs subvolume mounted on its own means that whole subvolume', (ctx) => {
    requireMounts(ctx);
    const top = join(base, 'bt');
    mountImage(join(base, 'bt.btrfs'), top, 'btrfs', 160);
    sh('btrfs', ['subvolume', 'create', join(top, 'sv')]);
    writeFileSync(join(top, 'sv/a'), fill('S', 5000));
    writeFileSync(join(top, 'sv/b'), fill('S', 5000));
    const device = sh('findmnt', ['-n', '-o', 'SOURCE', top]).trim();
    const svMount = join(base, 'svmount');
    // Its mount's root is /sv, as a bind's would be: the subvolume's own path says it is whole.
    mountSubvolume(device, '/sv', svMount);
    const svCat = join(base, 'subvol.db');
    try {
      expect(hashall(['scan', svMount, '--catalog', svCat, '-q']).code).toBe(0);
      const plan = hashall([
        'conductor',
        'plan',
        'sv',
        '--device',
        svMount,
        '--catalog',
        svCat,
        '--json',
      ]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.json<PlanJson>().scope).toEqual([]);
      expect(plan.json<PlanJson>().bytes_saveable).toBe(5000);
      const status = hashall(['conductor', 'status', '--device', svMount, '--catalog', svCat]);
      expect(status.code, status.stderr).toBe(0);
    } finally {
      unmount(svMount);
      unmount(top);
    }
  });

  it('PATH arguments: relative to the current directory, several, on two filesystems', (ctx) => {
    requireMounts(ctx);
    fresh();
    const rel = ok<PlanJson>(['conductor', 'plan', 'relative', 'scope'], m1);
    expect(rel.scope.map((s) => s.path)).toEqual([join(m1, 'scope')]);
    expect(rel.bytes_saveable).toBe(10_000);
    const two = ok<PlanJson>(['conductor', 'plan', 'two', join(m1, 'sibling'), join(m2, 'other')]);
    expect(two.scope.map((s) => s.path)).toEqual([join(m1, 'sibling'), join(m2, 'other')]);
    const show = ok<ShowJson>(['conductor', 'show-plan', String(two.id), '--limit', '0']);
    expect(new Set(targets(show).map((t) => t.replace(/\/[^/]+$/, '')))).toEqual(
      new Set([join(m1, 'sibling'), join(m2, 'other')]),
    );
    // B (7000) in sibling, F (6000) in other; g1l/g2l are in scope, g1/g2 outside: SKIP.
    expect(two.bytes_saveable).toBe(7000 + 6000);
    expect(two.skip_reasons).toEqual({ 'partly out of scope': 1 });
    // A directory inside another named one adds nothing.
    const nested = ok<PlanJson>([
      'conductor',
      'plan',
      'nested',
      join(m1, 'scope'),
      join(m1, 'scope/sub'),
    ]);
    expect(nested.scope.map((s) => s.path)).toEqual([join(m1, 'scope')]);
    // analyze reports what the plan frees.
    const a = ok<{ same_device: { bytes_saveable: number }; scope: ScopeJson[] }>([
      'conductor',
      'analyze',
      join(m1, 'sibling'),
      join(m2, 'other'),
    ]);
    expect(a.same_device.bytes_saveable).toBe(two.bytes_saveable);
    expect(a.scope).toEqual(two.scope);
  });

  it('a non-UTF-8 directory name is matched as bytes, absolute or relative', (ctx) => {
    requireMounts(ctx);
    fresh();
    const name = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9])]);
    const abs = Buffer.concat([Buffer.from(`${m1}/`), name]);
    for (const arg of [abs, name]) {
      const r = runRaw(['conductor', 'plan', 'latin1', arg, '--json'], m1);
      expect(r.code, r.stderr).toBe(0);
      const plan = r.json<PlanJson>();
      expect(plan.bytes_saveable).toBe(4000);
      expect(Buffer.from(plan.scope[0]!.path_b64!, 'base64')).toEqual(abs);
      const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0']);
      expect(show.actions).toHaveLength(1);
      expect(Buffer.from(show.actions[0]!.target_b64!, 'base64').subarray(0, abs.length)).toEqual(
        abs,
      );
    }
    // --device with the same bytes scopes the same way.
    const d = runRaw(['conductor', 'analyze', '--device', abs, '--json'], m1);
    expect(d.code, d.stderr).toBe(0);
    expect(d.json<{ same_device: { bytes_saveable: number } }>().same_device.bytes_saveable).toBe(
      4000,
    );
  });

  it('refuses PATHs that are not catalogued directories, with exit 2 and one line', (ctx) => {
    requireMounts(ctx);
    fresh();
    mkdirSync(join(m1, 'scope/new-since-scan'));
    const cases: [string[], RegExp][] = [
      [[join(m1, 'nope')], /PATH .*nope: ENOENT \(no such file or directory\)/],
      [[join(m1, 'scope/new-since-scan')], /is not in the catalog .*run 'hashall scan /],
      [[join(m1, 'scope/a')], /not a directory/],
      [[join(m1, 'scope'), '--device', m2], /is on .*not on --device/],
      [[join(m1, 'sibling'), '--device', join(m1, 'scope')], /is not inside --device/],
      [['--device', join(m1, 'scope/a')], /--device .*a file, not a filesystem/],
      [[base], /not in the catalog/],
    ];
    for (const [args, re] of cases) {
      const r = run(['conductor', 'plan', 'bad', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(ok<{ plans: unknown[] }>(['conductor', 'plans']).plans).toHaveLength(0);
  });

  it('the scope is shown by plan, show-plan, plans, report (json, html) and the scheduled units', (ctx) => {
    requireMounts(ctx);
    fresh();
    const dir = join(m1, 'scope');
    const human = run(['conductor', 'plan', 'shown', dir]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^   Scope: ${dir}$`, 'm'));
    const id = /ID: (\d+)/.exec(human.stdout)![1]!;
    expect(run(['conductor', 'show-plan', id]).stdout).toMatch(new RegExp(`^Scope: ${dir}$`, 'm'));
    const show = ok<ShowJson>(['conductor', 'show-plan', id]);
    expect(show.scope.map((s) => s.path)).toEqual([dir]);
    const plans = ok<{ plans: { id: number; scope: ScopeJson[] }[] }>(['conductor', 'plans']);
    expect(plans.plans.find((p) => p.id === Number(id))!.scope.map((s) => s.path)).toEqual([dir]);
    expect(run(['conductor', 'plans']).stdout).toContain(dir);
    const json = join(base, 'r.json');
    expect(run(['conductor', 'report', id, '--out', json]).code).toBe(0);
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { scope: ScopeJson[] };
    expect(doc.scope.map((s) => s.path)).toEqual([dir]);
    const html = join(base, 'r.html');
    expect(run(['conductor', 'report', id, '--out', html]).code).toBe(0);
    expect(readFileSync(html, 'utf8')).toMatch(
      new RegExp(`<dd id="sum-scope" data-v="1"[^>]*>${dir}</dd>`),
    );
    // A plan without a scope says so.
    const all = ok<PlanJson>(['conductor', 'plan', 'all']);
    expect(run(['conductor', 'show-plan', String(all.id)]).stdout).toMatch(
      /^Scope: everything catalogued$/m,
    );
    // Units: the device by alias and the directory as an absolute PATH, also from a relative one.
    const units = run(
      [
        'conductor',
        'auto-execute',
        '--device',
        'scope',
        '--min-savings',
        '1',
        '--weekly',
        '--json',
      ],
      m1,
    );
    expect(units.code, units.stderr).toBe(0);
    const argv = units.json<{ command: string[]; service: string; crontab: string }>();
    expect(argv.command.slice(-2)).toEqual(['--', dir]);
    expect(argv.service).toContain(`-- ${dir}`);
    expect(argv.crontab).toContain(`-- ${dir}`);
  });

  it('auto-execute with a scope plans and executes only inside it', (ctx) => {
    requireMounts(ctx);
    fresh();
    const before = ino(join(m1, 'sibling/d'));
    const r = run([
      'conductor',
      'auto-execute',
      '--device',
      m1,
      join(m1, 'scope'),
      '--min-savings',
      '1',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{ ran: boolean; plan: { bytes_saveable: number; scope: ScopeJson[] } }>();
    expect(doc.ran).toBe(true);
    expect(doc.plan.bytes_saveable).toBe(10_000);
    expect(doc.plan.scope.map((s) => s.path)).toEqual([join(m1, 'scope')]);
    expect(ino(join(m1, 'scope/b'))).toBe(ino(join(m1, 'scope/a')));
    expect(ino(join(m1, 'sibling/d'))).toBe(before);
    const bad = run([
      'conductor',
      'auto-execute',
      '--device',
      m2,
      join(m1, 'scope'),
      '--min-savings',
      '1',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not on --device/);
  });

  it('auto-execute --rescan with a scope rescans the scope, not the whole filesystem (regression: every root of it was read)', (ctx) => {
    requireMounts(ctx);
    fresh();
    // A new pair inside the scope, and one beside it that the job must neither read nor plan.
    writeFileSync(join(m1, 'scope/n1'), fill('N', 4000));
    writeFileSync(join(m1, 'scope/n2'), fill('N', 4000));
    writeFileSync(join(m1, 'sibling/o1'), fill('O', 4000));
    writeFileSync(join(m1, 'sibling/o2'), fill('O', 4000));
    const sibling = { o1: ino(join(m1, 'sibling/o1')), o2: ino(join(m1, 'sibling/o2')) };
    const args = ['conductor', 'auto-execute', '--device', join(m1, 'scope'), '--rescan'];
    const r = run([...args, '--min-savings', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<{
      ran: boolean;
      rescan: { files: number; new: number };
      plan: { bytes_saveable: number };
    }>();
    // scope/ holds a, b, e, g1, g2, sub/h and the two new files: 8, of the filesystem's 17.
    expect(doc.rescan).toMatchObject({ files: 8, new: 2 });
    expect(doc.ran).toBe(true);
    expect(doc.plan.bytes_saveable).toBe(10_000 + 4_000);
    expect(ino(join(m1, 'scope/n2'))).toBe(ino(join(m1, 'scope/n1')));
    expect(ino(join(m1, 'sibling/o1'))).toBe(sibling.o1);
    expect(ino(join(m1, 'sibling/o2'))).toBe(sibling.o2);
    // The sibling pair was never catalogued: the next job over the whole filesystem finds it.
    const human = run([...args.slice(0, 3), m1, '--rescan', '--min-savings', '1']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`Rescanned ${m1}: 17 files, 2 new`));
    expect(ino(join(m1, 'sibling/o2'))).toBe(ino(join(m1, 'sibling/o1')));
  });
});
