/**
 * Filters and keep rules end to end: a real tree, the real CLI, and savings computed here
 * independently (a walk of the tree, SHA-256 of every file, lstat for links and nanosecond
 * mtimes) from the documented semantics:
 * - a group is in scope when at least one of its paths passes the filters;
 * - a filtered-out path is never replaced and never kept (SKIP "filtered");
 * - an inode with a filtered-out link, or links outside the catalog, cannot be freed;
 * - with most-linked, such an inode is kept if it has a passing path; otherwise one of the
 *   freeable inodes is kept. Savings = freeable inodes replaced × size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hashall, type CliResult } from '../helpers/cli.js';
import { mountTmpfs, removeTree, requireMounts, tempDir, unmountAll } from '../helpers/fs.js';
import { contentDiff, inodeBytes, snapshot } from '../helpers/snapshot.js';

interface Action {
  type: string;
  source: string;
  source_b64?: string;
  target: string;
  target_b64?: string;
  bytes: number;
  size: number;
  sha256: string | null;
  reason: string | null;
  group: number;
  keep_rule: string | null;
}
interface ShowJson {
  options: { filters: Record<string, unknown>; keep_rules: string[] };
  filters: Record<string, unknown>;
  keep: string[];
  bytes_saveable: number;
  actions: Action[];
}
interface PlanJson {
  id: number;
  bytes_saveable: number;
  opportunities: number;
  actions: Record<string, number>;
  skip_reasons: Record<string, number>;
  filters: Record<string, unknown>;
  keep: string[];
}
interface AnalyzeJson {
  same_device: { groups: number; bytes_saveable: number; blocked_groups: number };
  cross_device: { groups: number; bytes: number };
  filters: Record<string, unknown>;
}

const TZ = 'Asia/Kolkata'; // +05:30 all year: local dates are deterministic
const ENV = { TZ };
/** 2026-01-01T00:00:00 in TZ, in seconds since the epoch. */
const T0 = 1_767_205_800;
const DAY = 86_400;
const ns = (secs: number, extra = 0n) => BigInt(secs) * 1_000_000_000n + extra;

function run(args: string[], cat: string, cwd?: string): CliResult {
  return hashall([...args, '--catalog', cat], { env: ENV, ...(cwd ? { cwd } : {}) });
}

function ok<T>(args: string[], cat: string, cwd?: string): T {
  const r = run([...args, '--json'], cat, cwd);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json<T>();
}

/** Set a file's mtime to an exact nanosecond (touch(1) takes @SECONDS.NANOSECONDS). */
function setMtime(p: string, at: bigint): void {
  const s = at / 1_000_000_000n;
  const frac = (at % 1_000_000_000n).toString().padStart(9, '0');
  execFileSync('touch', ['-m', '-d', `@${s}.${frac}`, p]);
  expect(lstatSync(p, { bigint: true }).mtimeNs).toBe(at);
}

const pathOf = (a: Action, key: 'source' | 'target'): Buffer =>
  a[`${key}_b64`] !== undefined ? Buffer.from(a[`${key}_b64`]!, 'base64') : Buffer.from(a[key]);

// --- the independent model ---------------------------------------------------------------

interface F {
  /** Absolute path, bytes. */
  readonly abs: Buffer;
  /** Relative path as text (invalid UTF-8 as U+FFFD), for the tests' predicates. */
  readonly rel: string;
  readonly ino: bigint;
  readonly nlink: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly sha: string;
}

function walk(tree: string): F[] {
  const out: F[] = [];
  for (const e of snapshot(tree).values()) {
    const abs = Buffer.concat([Buffer.from(`${tree}/`), e.path]);
    const st = lstatSync(abs, { bigint: true });
    out.push({
      abs,
      rel: e.path.toString('utf8'),
      ino: st.ino,
      nlink: Number(st.nlink),
      size: e.size,
      mtimeNs: st.mtimeNs,
      sha: e.sha,
    });
  }
  return out;
}

interface Expected {
  bytes: number;
  /** Content hashes of the groups in scope. */
  groups: Set<string>;
  /** Paths filtered out inside groups in scope: each must be a SKIP filtered. */
  filteredInScope: Buffer[];
  /** Every path that fails the filters. */
  filtered: Set<string>;
}

/** With most-linked, a held inode with a passing path is kept; with path, the first passing path's. */
function expected(
  files: F[],
  pass: (f: F) => boolean,
  keep: 'most-linked' | 'path' = 'most-linked',
): Expected {
  const bySha = new Map<string, F[]>();
  for (const f of files) {
    if (f.size === 0) continue;
    const list = bySha.get(f.sha) ?? [];
    list.push(f);
    bySha.set(f.sha, list);
  }
  const e: Expected = {
    bytes: 0,
    groups: new Set(),
    filteredInScope: [],
    filtered: new Set(files.filter((f) => !pass(f)).map((f) => f.abs.toString('latin1'))),
  };
  for (const [sha, list] of bySha) {
    const inodes = new Map<bigint, F[]>();
    for (const f of list) inodes.set(f.ino, [...(inodes.get(f.ino) ?? []), f]);
    if (inodes.size < 2 || !list.some(pass)) continue;
    e.groups.add(sha);
    e.filteredInScope.push(...list.filter((f) => !pass(f)).map((f) => f.abs));
    const cands = [...inodes.values()].filter((paths) => paths.some(pass));
    const held = (paths: F[]) => paths[0]!.nlink > paths.length || paths.some((f) => !pass(f));
    const freeable = cands.filter((paths) => !held(paths));
    let kept: F[];
    if (keep === 'most-linked') kept = cands.find(held) ?? freeable[0]!;
    else {
      const first = list.filter(pass).sort((x, y) => Buffer.compare(x.abs, y.abs))[0]!;
      kept = inodes.get(first.ino)!;
    }
    e.bytes += freeable.filter((paths) => paths !== kept).length * list[0]!.size;
  }
  return e;
}

// --- the tree ----------------------------------------------------------------------------

const bytes = (n: number, seed: string) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed.charCodeAt(i % seed.length) * (i + 7)) & 0xff;
  return b;
};

describe('filters on analyze and plan', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  let files: F[];

  beforeAll(() => {
    dir = realpathSync(tempDir('hashall-filters-'));
    tree = join(dir, 'tree');
    cat = join(dir, 'c.db');
    const A = bytes(2_000_000, 'film');
    const B = bytes(1_000_000, 'show'); // exactly 1MB
    const C = bytes(100, 'text');
    const D = bytes(1_048_576, 'iso'); // exactly 1MiB
    const E = bytes(4096, 'dat');
    const P = bytes(50_000, 'pinned');
    const G = bytes(7000, 'dup');
    const H = bytes(3000, 'links');
    const put = (rel: string, content: Buffer, mtime: bigint) => {
      const p = join(tree, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      setMtime(p, mtime);
    };
    put('media/film.mkv', A, ns(T0)); // exactly the --mtime-since boundary
    put('backup/film.mkv', A, ns(T0 + DAY)); // exactly the --mtime-before boundary
    put('old/film.mkv', A, ns(T0, -1n)); // one nanosecond before
    put('torrents/show.mkv', B, ns(T0 + 3600));
    mkdirSync(join(tree, 'seeding'));
    linkSync(join(tree, 'torrents/show.mkv'), join(tree, 'seeding/show.mkv'));
    put('media/show.mkv', B, ns(T0 + 7200));
    put('tmp/show.mkv.tmp', B, ns(T0 + 10));
    put('docs/a.txt', C, ns(T0 - DAY));
    put('docs/b.txt', C, ns(T0 + 5));
    put('docs/.hidden.txt', C, ns(T0 + 6));
    put('iso/x.iso', D, ns(T0 + 100));
    put('backup/x.iso', D, ns(T0 + 200));
    put('a/e1.dat', E, ns(T0 + 2 * DAY));
    put('a/e2.dat', E, ns(T0 + 2 * DAY, 1n));
    put('a/e3.dat.tmp', E, ns(T0 + 2 * DAY, 2n));
    put('pinned/p.bin', P, ns(T0 + 300));
    mkdirSync(join(dir, 'outside'));
    linkSync(join(tree, 'pinned/p.bin'), join(dir, 'outside/p.bin'));
    put('backup/p.bin', P, ns(T0 + 400));
    put('plain.dup', G, ns(T0 + 500));
    put('x/other.dup', G, ns(T0 + 600));
    const odd = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('.dup')]);
    writeFileSync(Buffer.concat([Buffer.from(`${tree}/`), odd]), G);
    put('links/l1', H, ns(T0 + 700));
    linkSync(join(tree, 'links/l1'), join(tree, 'links/l2'));
    put('unique.txt', bytes(1234, 'unique'), ns(T0));
    const s = ok<{ files: number }>(['scan', tree], cat);
    expect(s.files).toBe(23);
    files = walk(tree);
  });
  afterAll(() => removeTree(dir));

  /**
   * analyze and plan with `args` must both report exactly the independently computed savings;
   * the plan must hold exactly the groups in scope, list every filtered path of them as SKIP
   * filtered, and never replace or keep a filtered path.
   */
  function check(
    args: string[],
    pass: (f: F) => boolean,
    keep: 'most-linked' | 'path' = 'most-linked',
  ): { plan: PlanJson; show: ShowJson } {
    const want = expected(files, pass, keep);
    if (keep !== 'most-linked') args = [...args, '--keep', keep];
    const a = ok<AnalyzeJson>(['conductor', 'analyze', ...args], cat);
    expect(a.same_device.bytes_saveable).toBe(want.bytes);
    const plan = ok<PlanJson>(['conductor', 'plan', `filters ${args.join(' ')}`, ...args], cat);
    expect(plan.bytes_saveable).toBe(want.bytes);
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
    expect(show.actions.reduce((s, x) => s + x.bytes, 0)).toBe(want.bytes);
    const hashes = new Set(show.actions.filter((x) => x.sha256).map((x) => x.sha256!));
    // Link-only inodes (same content, one inode) are listed as NOOP groups too.
    const linkOnly = new Set(
      show.actions.filter((x) => x.sha256 && !want.groups.has(x.sha256)).map((x) => x.sha256),
    );
    for (const h of linkOnly) {
      expect(show.actions.filter((x) => x.sha256 === h).every((x) => x.type !== 'HARDLINK')).toBe(
        true,
      );
    }
    expect([...want.groups].every((h) => hashes.has(h))).toBe(true);
    const filteredSkips = new Set(
      show.actions
        .filter((x) => x.type === 'SKIP' && /^filtered/.test(x.reason ?? ''))
        .map((x) => pathOf(x, 'target').toString('latin1')),
    );
    for (const p of want.filteredInScope) expect(filteredSkips).toContain(p.toString('latin1'));
    for (const x of show.actions) {
      expect(want.filtered.has(pathOf(x, 'source').toString('latin1'))).toBe(false);
      if (x.type !== 'SKIP')
        expect(want.filtered.has(pathOf(x, 'target').toString('latin1'))).toBe(false);
      if (want.filtered.has(pathOf(x, 'target').toString('latin1')))
        expect([x.type, x.reason]).toEqual(['SKIP', expect.stringMatching(/^filtered: /)]);
    }
    return { plan, show };
  }

  it('without filters, analyze and plan agree with the model (the baseline)', () => {
    const { plan } = check([], () => true);
    expect(plan.bytes_saveable).toBe(
      2 * 2_000_000 + 2 * 1_000_000 + 2 * 100 + 1_048_576 + 4096 * 2 + 50_000 + 2 * 7000,
    );
    expect(plan.skip_reasons).toEqual({}); // the pinned inode is the one kept
  });

  it('--min-size and --max-size: inclusive, decimal and binary units, whole groups in or out', () => {
    const size = (lo: number, hi: number) => (f: F) => f.size >= lo && f.size <= hi;
    const big = check(['--min-size', '1MB'], size(1_000_000, Infinity)).plan;
    expect(big.bytes_saveable).toBe(2 * 2_000_000 + 2 * 1_000_000 + 1_048_576);
    const mib = check(['--min-size', '1MiB'], size(1_048_576, Infinity)).plan;
    expect(mib.bytes_saveable).toBe(2 * 2_000_000 + 1_048_576);
    const range = check(['--min-size', '1M', '--max-size', '1.5MB'], size(1_048_576, 1_500_000));
    expect(range.plan.bytes_saveable).toBe(1_048_576);
    expect(range.show.actions.every((x) => x.size === 1_048_576)).toBe(true);
    expect(range.plan.filters).toMatchObject({ min_size: 1_048_576, max_size: 1_500_000 });
    const small = check(['--max-size', '4k'], size(0, 4096)).plan;
    expect(small.bytes_saveable).toBe(2 * 100 + 2 * 4096);
    // Size filters drop whole groups: nothing is listed as filtered.
    expect(small.skip_reasons).toEqual({});
  });

  it('--mtime-since (inclusive) and --mtime-before (exclusive), local time, exact to the nanosecond', () => {
    const since = ns(T0);
    const before = ns(T0 + DAY);
    const s = check(['--mtime-since', '2026-01'], (f) => f.mtimeNs >= since);
    // old/film.mkv is one nanosecond too old; media/film.mkv is exactly on the boundary.
    const film = (rel: string) =>
      s.show.actions.find((x) => x.target.endsWith(rel) || x.source.endsWith(rel));
    expect(film('/old/film.mkv')!.reason).toMatch(
      /^filtered: modified before --mtime-since 2026-01-01T00:00:00\+05:30$/,
    );
    expect(s.plan.filters).toMatchObject({ mtime_since: '2026-01-01T00:00:00+05:30' });
    const b = check(['--mtime-before', '2026-01-02'], (f) => f.mtimeNs < before);
    expect(b.show.actions.find((x) => x.target.endsWith('/backup/film.mkv'))!.reason).toMatch(
      /^filtered: modified at or after --mtime-before 2026-01-02T00:00:00\+05:30$/,
    );
    check(
      ['--mtime-since', '2026-01-01T00:00:00+05:30', '--mtime-before', '2026-01-01T18:30:00Z'],
      (f) => f.mtimeNs >= since && f.mtimeNs < before,
    );
    // The same instants written in UTC, and a nanosecond later.
    check(['--mtime-since', '2025-12-31T18:30:00.000000001Z'], (f) => f.mtimeNs > since);
  });

  it('--include and --exclude: basename, anchored, floating and trailing-slash patterns, dotfiles', () => {
    const rel = (f: F) => f.rel;
    const tmp = check(['--exclude', '*.tmp'], (f) => !rel(f).endsWith('.tmp'));
    expect(tmp.plan.skip_reasons.filtered).toBe(2);
    check(['--exclude', `${tree}/seeding/`], (f) => !rel(f).startsWith('seeding/'));
    check(
      ['--include', `${tree}/media/**`, '--include', '*.iso'],
      (f) => rel(f).startsWith('media/') || rel(f).endsWith('.iso'),
    );
    check(['--include', 'media/*.mkv'], (f) => /^media\/[^/]*\.mkv$/.test(rel(f)));
    check(['--include', '*/media/*'], (f) => /^media\/[^/]+$/.test(rel(f)));
    check(['--exclude', '.*'], (f) => !rel(f).split('/').pop()!.startsWith('.'));
    check(['--include', `${tree}/*`], (f) => !rel(f).includes('/'));
    check(
      ['--include', `${tree}/**`, '--exclude', 'backup/**', '--exclude', '*.tmp'],
      (f) => !rel(f).startsWith('backup/') && !rel(f).endsWith('.tmp'),
    );
  });

  it('an inode with a filtered-out link is never replaced, even when another copy is kept', () => {
    const pass = (f: F) => !f.rel.startsWith('seeding/');
    // most-linked keeps that inode (it cannot be freed anyway); path keeps media/show.mkv, so
    // torrents/show.mkv must stay: replacing it would free nothing while seeding/ holds it.
    expect(check(['--exclude', 'seeding/'], pass).plan.skip_reasons).toEqual({ filtered: 1 });
    const { plan, show } = check(['--exclude', 'seeding/'], pass, 'path');
    expect(plan.skip_reasons).toEqual({ filtered: 1, 'partly filtered': 1, pinned: 1 });
    const torrents = show.actions.find((x) => x.target.endsWith('/torrents/show.mkv'))!;
    expect(torrents).toMatchObject({ type: 'SKIP', keep_rule: 'path' });
    expect(torrents.source.endsWith('/media/show.mkv')).toBe(true);
    expect(torrents.reason).toMatch(
      /^partly filtered: 1 other link\(s\) of this inode are filtered out/,
    );
    check(
      ['--exclude', '*.tmp', '--mtime-since', '2026-01'],
      (f) => !f.rel.endsWith('.tmp') && f.mtimeNs >= ns(T0),
      'path',
    );
  });

  it('a name that is not UTF-8 is matched through a wildcard', () => {
    const { show } = check(['--exclude', 'caf?.dup'], (f) => !f.abs.includes(0xe9));
    const odd = show.actions.find((x) => x.target_b64 !== undefined);
    expect(odd).toMatchObject({ type: 'SKIP', reason: "filtered: matches --exclude 'caf?.dup'" });
    check(
      ['--include', '*.dup', '--exclude', 'plain.dup'],
      (f) => f.rel.endsWith('.dup') && !f.rel.endsWith('plain.dup'),
    );
  });

  it('a group left with one passing path saves nothing, and is still listed', () => {
    const { plan, show } = check(['--include', 'a.txt'], (f) => f.rel === 'docs/a.txt');
    expect(plan.bytes_saveable).toBe(0);
    const group = show.actions.filter((x) => x.size === 100);
    expect(group).toHaveLength(2);
    expect(group.every((x) => x.type === 'SKIP' && x.source.endsWith('/docs/a.txt'))).toBe(true);
    expect(group.every((x) => x.keep_rule === 'only candidate')).toBe(true);
  });

  it('show-plan and plans show the stored filters', () => {
    const plan = ok<PlanJson>(
      [
        'conductor',
        'plan',
        'shown',
        '--min-size',
        '1k',
        '--exclude',
        '*.tmp',
        '--mtime-since',
        '2026-01',
      ],
      cat,
    );
    const text = run(['conductor', 'show-plan', String(plan.id)], cat).stdout;
    expect(text).toContain(
      "Filters: size ≥ 1,024 bytes, mtime ≥ 2026-01-01T00:00:00+05:30, exclude '*.tmp'",
    );
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id)], cat);
    const filters = {
      min_size: 1024,
      max_size: null,
      mtime_since: '2026-01-01T00:00:00+05:30',
      mtime_before: null,
      include: [],
      exclude: ['*.tmp'],
    };
    expect(show.filters).toEqual(filters);
    expect(show.options.filters).toEqual(filters);
    const plans = ok<{ plans: { id: number; filters: unknown; keep: string[] }[] }>(
      ['conductor', 'plans'],
      cat,
    );
    expect(plans.plans.find((p) => p.id === plan.id)).toMatchObject({
      filters,
      keep: ['most-linked', 'oldest'],
    });
    expect(run(['conductor', 'plans'], cat).stdout).toMatch(/FILTERS[\s\S]*size ≥ 1,024 bytes/);
    const a = run(['conductor', 'analyze', '--exclude', '*.tmp'], cat).stdout;
    expect(a).toMatch(/^Filters: exclude '\*\.tmp'$/m);
  });

  it('execute links only unfiltered copies: filtered files keep their inode and content', () => {
    const pass = (f: F) => !f.rel.startsWith('backup/') && !f.rel.endsWith('.tmp');
    const want = expected(files, pass);
    const { plan } = check(['--exclude', 'backup/**', '--exclude', '*.tmp'], pass);
    const before = snapshot(tree);
    const r = run(['conductor', 'execute', String(plan.id), '--force', '--json'], cat);
    expect(r.code).toBe(0);
    const e = r.json<{ bytes_saved: number; failed: number }>();
    expect(e.failed).toBe(0);
    expect(e.bytes_saved).toBe(want.bytes);
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    expect(inodeBytes(before) - inodeBytes(after)).toBe(want.bytes);
    for (const f of files.filter((x) => !pass(x))) {
      const key = f.abs.subarray(tree.length + 1).toString('latin1');
      expect(after.get(key)!.ino).toBe(Number(f.ino));
      expect(readFileSync(f.abs).length).toBe(f.size);
    }
    // The unfiltered copies of the film now share one inode; the backup copy kept its own.
    const ino = (rel: string) => lstatSync(join(tree, rel)).ino;
    expect(ino('media/film.mkv')).toBe(ino('old/film.mkv'));
    expect(ino('backup/film.mkv')).not.toBe(ino('media/film.mkv'));
    expect(ino('tmp/show.mkv.tmp')).not.toBe(ino('media/show.mkv'));
    expect(ino('media/show.mkv')).toBe(ino('seeding/show.mkv'));
  });
});

describe('keep rules', () => {
  let dir: string;
  let tree: string;
  let cat: string;

  beforeAll(() => {
    dir = realpathSync(tempDir('hashall-keep-'));
    tree = join(dir, 't');
    cat = join(dir, 'c.db');
    const X = bytes(10_000, 'keep');
    const put = (rel: string, content: Buffer, mtime: bigint) => {
      const p = join(tree, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      setMtime(p, mtime);
    };
    // One group of four inodes, each rule singling out a different one.
    put('ab/zz-oldest.bin', X, ns(T0, 1n)); // oldest (by one nanosecond over 'a/...')
    put('a/longest/directory/newest.bin', X, ns(T0 + DAY));
    put('s.bin', X, ns(T0 + 60)); // shortest path
    put('m/linked.bin', X, ns(T0 + 30));
    linkSync(join(tree, 'm/linked.bin'), join(tree, 'm/linked2.bin')); // most-linked
    put('a/tie-1.bin', X, ns(T0, 2n));
    // A second group where everything ties on mtime.
    const Y = bytes(5000, 'tie');
    put('tie/bbb', Y, ns(T0));
    put('tie/aaaa', Y, ns(T0));
    put('tie/cc', Y, ns(T0));
    ok(['scan', tree], cat);
  });
  afterAll(() => removeTree(dir));

  /** Plan with these --keep values; per group (by size), the kept path and the rule named. */
  function kept(keep: string[], cwd?: string): Map<number, [string, string | null]> {
    const plan = ok<PlanJson>(
      ['conductor', 'plan', 'k', ...keep.flatMap((k) => ['--keep', k])],
      cat,
      cwd,
    );
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
    expect(show.keep).toEqual(plan.keep);
    const out = new Map<number, [string, string | null]>();
    for (const a of show.actions) {
      const rel = a.source.slice(tree.length + 1);
      const prev = out.get(a.size);
      if (prev) expect(prev).toEqual([rel, a.keep_rule]);
      out.set(a.size, [rel, a.keep_rule]);
    }
    return out;
  }

  it('each rule keeps its copy and show-plan names the rule', () => {
    expect(kept([]).get(10_000)).toEqual(['m/linked.bin', 'most-linked']);
    expect(kept(['most-linked']).get(10_000)).toEqual(['m/linked.bin', 'most-linked']);
    expect(kept(['path']).get(10_000)).toEqual(['a/longest/directory/newest.bin', 'path']);
    expect(kept(['oldest']).get(10_000)).toEqual(['ab/zz-oldest.bin', 'oldest']);
    expect(kept(['newest']).get(10_000)).toEqual(['a/longest/directory/newest.bin', 'newest']);
    expect(kept(['shortest-path']).get(10_000)).toEqual(['s.bin', 'shortest-path']);
    expect(kept([`prefer=${tree}/a/longest`]).get(10_000)).toEqual([
      'a/longest/directory/newest.bin',
      `prefer=${tree}/a/longest`,
    ]);
    const plan = ok<PlanJson>(['conductor', 'plan', 'text', '--keep', 'oldest'], cat);
    const text = run(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat).stdout;
    expect(text).toMatch(/Keep: oldest/);
    expect(text).toMatch(/\n {6}← .*\/ab\/zz-oldest\.bin\n {4}Kept by: oldest/);
    expect(text).toMatch(/Kept by: path \(tie\)/); // the tie group
  });

  it('prefer=PREFIX is a directory boundary, relative prefixes resolve against the working directory', () => {
    // 'a' must not prefer 'ab/…': the prefix is a whole path component.
    // Both copies under a/ tie on prefer=, so oldest decides between them.
    expect(kept(['prefer=a', 'oldest'], tree).get(10_000)).toEqual(['a/tie-1.bin', 'oldest']);
    expect(kept(['prefer=ab'], tree).get(10_000)).toEqual([
      'ab/zz-oldest.bin',
      `prefer=${tree}/ab`,
    ]);
    expect(kept([`prefer=${tree}/a/`, 'newest'], tree).get(10_000)).toEqual([
      'a/longest/directory/newest.bin',
      'newest',
    ]);
    expect(kept(['prefer=a', 'oldest'], tree).get(5000)).toEqual(['tie/aaaa', 'path (tie)']);
    const plan = ok<PlanJson>(['conductor', 'plan', 'rel', '--keep', 'prefer=ab/'], cat, tree);
    expect(plan.keep).toEqual([`prefer=${tree}/ab`]);
  });

  it('ties fall through to the next rule, then to the lexically first path', () => {
    expect(kept(['oldest']).get(5000)).toEqual(['tie/aaaa', 'path (tie)']);
    expect(kept(['oldest', 'shortest-path']).get(5000)).toEqual(['tie/cc', 'shortest-path']);
    expect(kept(['newest', 'prefer=/nowhere', 'shortest-path']).get(5000)).toEqual([
      'tie/cc',
      'shortest-path',
    ]);
    // most-linked ties in the group of single links, then the path decides.
    expect(kept(['most-linked', 'newest']).get(5000)).toEqual(['tie/aaaa', 'path (tie)']);
    // Two paths of the kept inode: prefer picks which one is named as the source.
    expect(kept(['prefer=' + join(tree, 'm/linked2.bin')]).get(10_000)).toEqual([
      'm/linked2.bin',
      `prefer=${tree}/m/linked2.bin`,
    ]);
  });

  it('execute keeps the chosen file: its inode survives and the others become links to it', () => {
    const keepIno = lstatSync(join(tree, 'ab/zz-oldest.bin')).ino;
    const plan = ok<PlanJson>(['conductor', 'plan', 'exec', '--keep', 'oldest'], cat);
    const before = snapshot(tree);
    const r = run(['conductor', 'execute', String(plan.id), '--force', '--json'], cat);
    expect(r.code).toBe(0);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    for (const rel of [
      'ab/zz-oldest.bin',
      'a/longest/directory/newest.bin',
      's.bin',
      'm/linked.bin',
      'm/linked2.bin',
      'a/tie-1.bin',
    ])
      expect(lstatSync(join(tree, rel)).ino).toBe(keepIno);
  });
});

describe('filters see paths as the user does (mount point + path inside)', () => {
  let dir: string;
  afterAll(() => {
    unmountAll();
    if (dir) removeTree(dir);
  });

  it('on two tmpfs mounts: anchored globs match the mounted path, cross-device counts only passing copies', (ctx) => {
    requireMounts(ctx);
    dir = realpathSync(tempDir('hashall-filtermounts-'));
    const m1 = join(dir, 'm1');
    const m2 = join(dir, 'm2');
    mountTmpfs(m1, 16);
    mountTmpfs(m2, 16);
    const cat = join(dir, 'c.db');
    const X = bytes(20_000, 'mounted');
    for (const p of [join(m1, 'a.bin'), join(m1, 'keep/b.bin'), join(m2, 'c.bin')]) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, X);
    }
    ok(['scan', m1, m2], cat);
    // Inside its filesystem the path is /a.bin; the user sees m1/a.bin, and that is matched.
    const plan = ok<PlanJson>(
      ['conductor', 'plan', 'm', '--cross-device', '--exclude', `${m1}/a.bin`],
      cat,
    );
    const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
    expect(plan.bytes_saveable).toBe(0);
    expect(
      show.actions.map((a) => [a.type, a.source, a.target, (a.reason ?? '').replace(/:.*/, '')]),
    ).toEqual(
      expect.arrayContaining([
        ['SKIP', join(m1, 'keep/b.bin'), join(m1, 'a.bin'), 'filtered'],
        ['SKIP', join(m1, 'keep/b.bin'), join(m2, 'c.bin'), 'cross-device'],
      ]),
    );
    expect(show.actions).toHaveLength(2);
    expect(
      ok<PlanJson>(['conductor', 'plan', 'inside', '--exclude', '/a.bin'], cat).bytes_saveable,
    ).toBe(20_000);
    const a = (args: string[]) =>
      ok<AnalyzeJson>(['conductor', 'analyze', '--cross-device', ...args], cat);
    expect(a([]).cross_device).toMatchObject({ groups: 1, bytes: 20_000 });
    expect(a(['--exclude', `${m2}/**`]).cross_device).toMatchObject({ groups: 0, bytes: 0 });
    expect(a(['--include', `${m1}/keep/**`, '--include', `${m2}/**`]).cross_device).toMatchObject({
      groups: 1,
      bytes: 20_000,
    });
    expect(a(['--include', `${m1}/keep/**`]).same_device.bytes_saveable).toBe(0);
    // --device with a filter that leaves nothing on that device lists no cross-device group.
    expect(
      ok<AnalyzeJson>(
        ['conductor', 'analyze', '--cross-device', '--device', m2, '--exclude', 'c.bin'],
        cat,
      ).cross_device.groups,
    ).toBe(0);
  });
});

describe('bad filter and keep values', () => {
  let dir: string;
  let cat: string;

  beforeAll(() => {
    dir = realpathSync(tempDir('hashall-badfilters-'));
    const tree = join(dir, 't');
    cat = join(dir, 'c.db');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a'), 'same');
    writeFileSync(join(tree, 'b'), 'same');
    ok(['scan', tree], cat);
  });
  afterAll(() => removeTree(dir));

  it('exit 2 with one line and no stack trace, before touching the catalog', () => {
    const cases: [string[], RegExp][] = [
      [
        ['--min-size', '12XB'],
        /^hashall: error: --min-size: '12XB' is not a size \(examples: 1GB, 500MiB, 10k, 4096\)$/,
      ],
      [['--max-size', '-5'], /^hashall: error: --max-size: '-5' is not a size/],
      [['--max-size', ''], /^hashall: error: --max-size: '' is not a size/],
      [['--min-size', '1e3'], /^hashall: error: --min-size: '1e3' is not a size/],
      [['--min-size', '1\nGB'], /^hashall: error: --min-size: '1'\$'\\n''GB' is not a size/],
      [
        ['--min-size', '2GB', '--max-size', '1GB'],
        /^hashall: error: --min-size '2GB' \(2000000000 bytes\) is larger than --max-size '1GB'/,
      ],
      [
        ['--mtime-since', '2026-13'],
        /^hashall: error: --mtime-since: '2026-13' is not a date or time \(examples: /,
      ],
      [['--mtime-before', 'tomorrow'], /^hashall: error: --mtime-before: 'tomorrow' is not a date/],
      [['--mtime-since', '2026-02-30'], /is not a date/],
      [
        ['--mtime-since', '2026-02', '--mtime-before', '2026-01'],
        /--mtime-since 2026-02-01T00:00:00\+05:30 is not earlier than --mtime-before 2026-01-01T00:00:00\+05:30/,
      ],
      [
        ['--keep', 'bogus'],
        /^hashall: error: --keep: 'bogus' is not a keep rule; use most-linked, path, oldest, newest, shortest-path or prefer=PREFIX$/,
      ],
      [['--keep', 'prefer='], /^hashall: error: --keep: 'prefer=' needs a path after prefer=$/],
      [['--include', ''], /^hashall: error: --include: a pattern cannot be empty$/],
      [['--exclude', '!*.tmp'], /^hashall: error: --exclude: '!\*\.tmp' is negated/],
    ];
    const problems: string[] = [];
    for (const [args, pattern] of cases) {
      for (const cmd of [
        ['conductor', 'analyze'],
        ['conductor', 'plan', 'bad'],
      ]) {
        const r = run([...cmd, ...args], cat);
        const lines = r.stderr.trimEnd().split('\n');
        const what = `${cmd.join(' ')} ${JSON.stringify(args)}`;
        if (r.code !== 2) problems.push(`${what}: exit ${r.code}`);
        if (lines.length !== 1) problems.push(`${what}: ${lines.length} lines: ${r.stderr}`);
        if (!pattern.test(lines[0]!)) problems.push(`${what}: ${r.stderr}`);
        if (/\n\s+at /.test(r.stderr)) problems.push(`${what}: stack trace`);
        if (r.stdout !== '') problems.push(`${what}: output on stdout`);
      }
    }
    expect(problems).toEqual([]);
    expect(ok<{ plans: unknown[] }>(['conductor', 'plans'], cat).plans).toHaveLength(0);
  });
});
