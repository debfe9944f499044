/**
 * Reflink mode on real loop-mounted filesystems: XFS (reflink=1) and btrfs clone, ext4 cannot.
 * Savings are checked against the filesystem's own accounting (statfs used blocks, and btrfs's
 * exclusive/shared extent accounting), content against an independent snapshot, metadata
 * against lstat before and after. Crashes at every step of the clone protocol are recovered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  statfsSync,
  utimesSync,
  writeFileSync,
  type BigIntStats,
} from 'node:fs';
import { join, relative } from 'node:path';
import { hashall } from '../helpers/cli.js';
import {
  findFiles,
  mktree,
  mountImage,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';
import { contentDiff, snapshot, type Snapshot } from '../helpers/snapshot.js';
import { killExecuteAt, leftBehind } from '../helpers/kill-at.js';

interface PlanJson {
  id: number;
  mode: string;
  bytes_saveable: number;
  opportunities: number;
  actions: Record<string, number>;
  skip_reasons: Record<string, number>;
  reflink_unsupported: { device: string; fs_type: string; reason: string }[];
  savings_estimated: number;
}

interface ExecJson {
  mode: string;
  executed: number;
  noop: number;
  failed: number;
  bytes_saved: number;
  plan_bytes_saved: number;
  status: string;
  recovery: { rolled_forward: number; rolled_back: number; temp_links_removed: number } | null;
  failures: { target: string; error: string }[];
}

interface ShowJson {
  actions: { type: string; source: string; target: string; bytes: number; reason: string }[];
}

function json<T>(args: string[], cat: string, env: Record<string, string> = {}) {
  const r = hashall([...args, '--catalog', cat, '--json'], { env });
  return { code: r.code, doc: r.stdout ? r.json<T>() : (undefined as T), stderr: r.stderr };
}

/** Used bytes as statfs reports them (what df shows), once the filesystem has settled. */
function usedBytes(mnt: string, fs: string): number {
  const read = () => {
    spawnSync('sync', ['-f', mnt]);
    if (fs === 'btrfs') spawnSync('btrfs', ['filesystem', 'sync', mnt]);
    const s = statfsSync(mnt);
    return (s.blocks - s.bfree) * s.bsize;
  };
  // Freed extents may be returned in the background: wait until two reads agree.
  let last = read();
  for (let i = 0; i < 50; i++) {
    spawnSync('sleep', ['0.2']);
    const now = read();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** btrfs's data accounting of a tree: exclusive + shared extent bytes (`btrfs fi du`). */
function btrfsDataBytes(path: string): { exclusive: number; shared: number; used: number } {
  const out = execFileSync('btrfs', ['filesystem', 'du', '-s', '--raw', path], {
    encoding: 'utf8',
  });
  const row = out.trim().split('\n').pop()!.trim().split(/\s+/);
  const exclusive = Number(row[1]);
  const shared = Number(row[2]);
  return { exclusive, shared, used: exclusive + shared };
}

function statAll(root: string): Map<string, BigIntStats> {
  const m = new Map<string, BigIntStats>();
  for (const rel of findFiles(root)) {
    const p = join(root, rel.toString());
    m.set(rel.toString(), lstatSync(p, { bigint: true }));
  }
  return m;
}

function inodeOf(root: string, rel: string): bigint {
  return lstatSync(join(root, rel), { bigint: true }).ino;
}

function stageDirs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.hashall-tmp-')) out.push(join(d, e.name));
      else if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

/** Paths grouped by content, each group's paths sorted: for picking targets to decorate. */
function groupsByContent(s: Snapshot): string[][] {
  const by = new Map<string, string[]>();
  for (const e of s.values()) {
    if (e.size === 0) continue;
    const list = by.get(e.sha) ?? [];
    list.push(e.path.toString());
    by.set(e.sha, list);
  }
  return [...by.values()]
    .filter(
      // Big enough to live in data extents (btrfs keeps files up to 2 KiB inline in metadata).
      (l) =>
        l.length > 1 && s.get(l[0]!)!.size >= 2100 && new Set(l.map((p) => s.get(p)!.ino)).size > 1,
    )
    .map((l) => l.sort());
}

const figures: Record<string, unknown>[] = [];

describe('reflink mode on XFS and btrfs', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('hashall-reflink-');
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
    if (figures.length) console.log(`reflink figures: ${JSON.stringify(figures)}`);
  });

  for (const fs of ['xfs', 'btrfs'] as const) {
    it(`${fs}: every duplicate becomes a clone with its own metadata; the filesystem frees what the plan said`, (ctx) => {
      requireMounts(ctx);
      const mnt = join(dir, fs);
      mountImage(join(dir, `${fs}.img`), mnt, fs, 400);
      const tree = join(mnt, 'tree');
      const gen = mktree(tree, ['--files', '300', '--total-mb', '40', '--seed', '11']);
      expect(gen.regular_file_paths).toBe(300);

      // Give some copies other owners, modes and nanosecond times (a hardlink could not join
      // them; a clone takes them over), and pin one copy with a link outside the scanned tree.
      // With --keep path the first path of a group is kept; this one (a file with one link:
      // hardlinked targets are skipped in reflink mode) is replaced.
      const targetOf = (g: string[]) =>
        [...g]
          .reverse()
          .find(
            (p) =>
              inodeOf(tree, p) !== inodeOf(tree, g[0]!) && lstatSync(join(tree, p)).nlink === 1,
          )!;
      const all = groupsByContent(snapshot(tree));
      const groups = all.filter((g) => targetOf(g) !== undefined);
      expect(groups.length).toBeGreaterThan(10);
      // A target whose inode has several names in the tree: a clone per name would split it.
      const linked = all
        .flatMap((g) => g.filter((p) => inodeOf(tree, p) !== inodeOf(tree, g[0]!)))
        .find((p) => lstatSync(join(tree, p)).nlink > 1);
      const decorated = new Map<string, { uid: number; gid: number; mode: number }>();
      groups.slice(0, 4).forEach((g, i) => {
        const p = join(tree, targetOf(g));
        const meta = [
          { uid: 1234, gid: 2345, mode: 0o640 },
          { uid: 0, gid: 0, mode: 0o600 },
          { uid: 4321, gid: 4321, mode: 0o4755 }, // setuid: must survive the chown
          { uid: 65534, gid: 65534, mode: 0o444 },
        ][i]!;
        chownSync(p, meta.uid, meta.gid);
        chmodSync(p, meta.mode);
        decorated.set(targetOf(g), meta);
      });
      // A source that is setuid: the clone must never carry that bit to a root-owned file.
      chmodSync(join(tree, groups[4]![0]!), 0o4755);
      const nsPath = targetOf(groups[5]!);
      execFileSync('touch', ['-m', '-d', '@1600000000.123456789', join(tree, nsPath)]);
      utimesSync(
        join(tree, targetOf(groups[6]!)),
        new Date(1_500_000_000_000),
        new Date(1_400_000_000_000),
      );
      // Two copies pinned by links outside the scanned tree: one is kept, the other skipped.
      mkdirSync(join(mnt, 'outside'));
      const pinned = targetOf(groups[7]!);
      linkSync(join(tree, pinned), join(mnt, 'outside', 'pin'));

      const cat = join(dir, `${fs}.db`);
      expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
      const plan = json<PlanJson>(
        ['conductor', 'plan', `${fs} clones`, '--mode', 'reflink', '--keep', 'path'],
        cat,
      );
      expect(plan.code).toBe(0);
      expect(plan.doc.mode).toBe('reflink');
      expect(plan.doc.reflink_unsupported).toEqual([]);
      expect(plan.doc.savings_estimated).toBe(0);
      expect(plan.doc.actions.REFLINK).toBeGreaterThan(20);
      expect(plan.doc.actions.HARDLINK).toBeUndefined();
      expect(plan.doc.skip_reasons.pinned).toBeGreaterThanOrEqual(1);
      expect(plan.doc.skip_reasons['owner/group/mode differ']).toBeUndefined();
      expect(plan.doc.bytes_saveable).toBeGreaterThan(10 << 20);
      const show = json<ShowJson>(
        ['conductor', 'show-plan', String(plan.doc.id), '--limit', '0'],
        cat,
      ).doc;
      const clones = show.actions.filter((a) => a.type === 'REFLINK');
      expect(clones).toHaveLength(plan.doc.actions.REFLINK!);
      const targets = new Set(clones.map((a) => relative(tree, a.target)));
      for (const p of decorated.keys()) expect(targets.has(p)).toBe(true);
      expect(targets.has(pinned)).toBe(false);
      if (linked !== undefined) {
        expect(targets.has(linked)).toBe(false);
        const skip = show.actions.find((a) => relative(tree, a.target) === linked);
        expect(skip?.reason ?? '').toMatch(/^(hardlinked|pinned)/);
      }
      const human = hashall(['conductor', 'show-plan', String(plan.doc.id), '--catalog', cat]);
      expect(human.stdout).toMatch(/Mode: reflink/);
      expect(human.stdout).toMatch(/ 1\. REFLINK /);

      const before = snapshot(tree);
      const statsBefore = statAll(tree);
      const usedBefore = usedBytes(mnt, fs);
      const btrfsBefore = fs === 'btrfs' ? btrfsDataBytes(tree) : undefined;

      const r = json<ExecJson>(['conductor', 'execute', String(plan.doc.id), '--force'], cat);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.doc.mode).toBe('reflink');
      expect(r.doc.failed).toBe(0);
      expect(r.doc.executed).toBe(plan.doc.actions.REFLINK);
      expect(r.doc.status).toBe('executed');
      expect(r.doc.bytes_saved).toBe(plan.doc.bytes_saveable);

      // The report shows the clones as REFLINK and what they shared.
      const rep = hashall([
        'conductor',
        'report',
        String(plan.doc.id),
        '--format',
        'json',
        '--out',
        '-',
        '--catalog',
        cat,
      ]).json<{
        mode: string;
        counts: Record<string, number>;
        bytes_freed: number;
        actions: { type: string }[];
      }>();
      expect(rep.mode).toBe('reflink');
      expect(rep.counts.REFLINK).toBe(plan.doc.actions.REFLINK);
      expect(rep.counts.HARDLINK).toBeUndefined();
      expect(rep.bytes_freed).toBe(plan.doc.bytes_saveable);
      expect(rep.actions.filter((a) => a.type === 'REFLINK')).toHaveLength(clones.length);
      const csv = hashall([
        'conductor',
        'report',
        String(plan.doc.id),
        '--format',
        'csv',
        '--out',
        '-',
        '--catalog',
        cat,
      ]).stdout;
      expect(csv.split('\n').filter((l) => /^\d+,REFLINK,/.test(l))).toHaveLength(clones.length);

      const usedAfter = usedBytes(mnt, fs);
      const after = snapshot(tree);
      const statsAfter = statAll(tree);
      // Every path has exactly its content, and nothing else appeared (no staging directory).
      expect(contentDiff(before, after)).toEqual([]);
      expect(stageDirs(mnt)).toEqual([]);
      // No new hardlinks: paths that were different inodes are still different inodes.
      const origin = new Map<bigint, bigint>();
      for (const [p, st] of statsAfter) {
        const was = statsBefore.get(p)!.ino;
        const seen = origin.get(st.ino);
        if (seen !== undefined) expect(seen).toBe(was);
        origin.set(st.ino, was);
      }
      // Each target is a new inode, distinct from its source; owner, group and mode are the
      // target's own; mtime is kept to the microsecond (Node cannot set nanoseconds).
      for (const a of clones) {
        const rel = relative(tree, a.target);
        const b = statsBefore.get(rel)!;
        const t = statsAfter.get(rel)!;
        const s = statsAfter.get(relative(tree, a.source))!;
        expect(t.ino).not.toBe(b.ino);
        expect(t.ino).not.toBe(s.ino);
        expect(t.nlink).toBe(1n);
        expect([t.uid, t.gid, t.mode]).toEqual([b.uid, b.gid, b.mode]);
        expect(t.mtimeNs / 1000n).toBe(b.mtimeNs / 1000n);
      }
      for (const [p, meta] of decorated) {
        const t = statsAfter.get(p)!;
        expect([Number(t.uid), Number(t.gid), Number(t.mode & 0o7777n)]).toEqual([
          meta.uid,
          meta.gid,
          meta.mode,
        ]);
      }
      const nsTarget = statsAfter.get(nsPath)!;
      // Kept to the microsecond: Node 20–24 truncate there, Node 26 rounds through a double.
      expect(nsTarget.mtimeNs / 1000n).toBe(1_600_000_000_123_456n);
      // Untouched paths keep everything, to the nanosecond.
      for (const [p, b] of statsBefore) {
        if (targets.has(p)) continue;
        const t = statsAfter.get(p)!;
        expect([t.ino, t.mode, t.uid, t.gid, t.mtimeNs]).toEqual([
          b.ino,
          b.mode,
          b.uid,
          b.gid,
          b.mtimeNs,
        ]);
      }
      // The filesystem says the blocks are shared now.
      const frag = execFileSync(
        'filefrag',
        ['-v', join(tree, clones[0]!.target.slice(tree.length + 1))],
        {
          encoding: 'utf8',
        },
      );
      expect(frag).toMatch(/shared/);

      // Savings from the filesystem's own accounting. statfs counts metadata too: new inodes
      // (XFS allocates them in chunks of 64), refcount/extent tree blocks and directory blocks
      // move it by a few blocks, so allow 256 KiB + 1% either way. btrfs's data accounting
      // (exclusive + shared extents) has no metadata in it and must match exactly.
      const measured = usedBefore - usedAfter;
      const tolerance = 256 * 1024 + Math.round(plan.doc.bytes_saveable / 100);
      const fig: Record<string, unknown> = {
        fs,
        planned: plan.doc.bytes_saveable,
        statfs_used_delta: measured,
        clones: r.doc.executed,
      };
      if (btrfsBefore) {
        const btrfsAfter = btrfsDataBytes(tree);
        fig.btrfs_du_before = btrfsBefore;
        fig.btrfs_du_after = btrfsAfter;
        fig.btrfs_du_delta = btrfsBefore.used - btrfsAfter.used;
        expect(btrfsBefore.used - btrfsAfter.used).toBe(plan.doc.bytes_saveable);
        expect(btrfsAfter.shared).toBeGreaterThan(0);
      }
      figures.push(fig);
      expect(Math.abs(measured - plan.doc.bytes_saveable)).toBeLessThanOrEqual(tolerance);

      // The catalog knows the clones: a rescan changes nothing, and a new reflink plan finds
      // every target already sharing its blocks (NOOP), so nothing is counted twice.
      const rescan = json<{ changed: number; new: number }>(['scan', tree], cat).doc;
      expect(rescan.changed).toBe(0);
      expect(rescan.new).toBe(0);
      const again = json<PlanJson>(
        ['conductor', 'plan', 'again', '--mode', 'reflink', '--keep', 'path'],
        cat,
      ).doc;
      const againShow = json<ShowJson>(
        ['conductor', 'show-plan', String(again.id), '--limit', '0'],
        cat,
      ).doc;
      expect(againShow.actions.filter((a) => a.type === 'REFLINK')).toEqual([]);
      expect(again.actions.REFLINK).toBe(0);
      expect(again.bytes_saveable).toBe(0);
      const db = new Database(cat, { readonly: true });
      const shared = (
        db
          .prepare(
            `SELECT count(*) AS n FROM conductor_actions WHERE plan_id = ? AND reason = 'already shares every block with the kept copy'`,
          )
          .get(again.id) as { n: number }
      ).n;
      db.close();
      expect(shared).toBe(r.doc.executed);
    });
  }

  it('ext4: plan says there are no reflinks, plans nothing there, and execute changes nothing', (ctx) => {
    requireMounts(ctx);
    const mnt = join(dir, 'ext4');
    mountImage(join(dir, 'ext4.img'), mnt, 'ext4', 128);
    const tree = join(mnt, 'tree');
    mktree(tree, ['--files', '120', '--total-mb', '8', '--seed', '5']);
    const cat = join(dir, 'ext4.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const human = hashall([
      'conductor',
      'plan',
      'no clones',
      '--mode',
      'reflink',
      '--catalog',
      cat,
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(
        `warning: No reflinks on ${mnt} \\(ext4, ext4\\): FICLONE failed with (ENOTSUP|EOPNOTSUPP) \\(not supported by this filesystem\\); nothing planned there \\(\\d+ groups?; --mode hardlink can link them\\)`,
      ),
    );
    expect(human.stdout.match(/No reflinks/g)).toHaveLength(1);
    const plan = json<PlanJson>(['conductor', 'plan', 'no clones', '--mode', 'reflink'], cat).doc;
    expect(plan.reflink_unsupported).toEqual([
      expect.objectContaining({ device: 'ext4', fs_type: 'ext4' }),
    ]);
    expect(plan.actions).toEqual({ REFLINK: 0, NOOP: 0, SKIP: 0 });
    expect(plan.bytes_saveable).toBe(0);
    // The probe left nothing behind.
    expect(stageDirs(mnt)).toEqual([]);
    const before = snapshot(tree);
    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    expect(r.doc.executed).toBe(0);
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    for (const [k, e] of before) expect(after.get(k)!.ino).toBe(e.ino);
    // hardlink mode still works there.
    const hard = json<PlanJson>(['conductor', 'plan', 'links'], cat).doc;
    expect(hard.actions.HARDLINK).toBeGreaterThan(0);
  });

  it('btrfs: a pair FICLONE refuses (NOCOW source, COW target) fails that action alone, with the reason; --verify hash clones the rest', (ctx) => {
    requireMounts(ctx);
    const mnt = join(dir, 'btrfs-nocow');
    mountImage(join(dir, 'btrfs-nocow.img'), mnt, 'btrfs', 320);
    const tree = join(mnt, 't');
    mkdirSync(join(tree, 'a-nocow'), { recursive: true });
    execFileSync('chattr', ['+C', join(tree, 'a-nocow')]); // new files in it are NOCOW
    writeTree(tree, {
      'a-nocow/one.bin': Buffer.alloc(200_000, 1),
      'b/one.bin': Buffer.alloc(200_000, 1),
      'a/two.bin': Buffer.alloc(200_000, 2),
      'b/two.bin': Buffer.alloc(200_000, 2),
    });
    const cat = join(dir, 'nocow.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const plan = json<PlanJson>(
      ['conductor', 'plan', 'nocow', '--mode', 'reflink', '--keep', 'path'],
      cat,
    ).doc;
    expect(plan.actions.REFLINK).toBe(2);
    const before = snapshot(tree);
    const inoBefore = lstatSync(join(tree, 'b', 'one.bin')).ino;
    const r = json<ExecJson>(
      ['conductor', 'execute', String(plan.id), '--force', '--verify', 'hash'],
      cat,
    );
    expect(r.code).toBe(1);
    expect(r.doc.executed).toBe(1);
    expect(r.doc.failed).toBe(1);
    expect(r.doc.failures[0]!.target).toBe(join(tree, 'b', 'one.bin'));
    expect(r.doc.failures[0]!.error).toMatch(
      /^cannot clone: EINVAL \(FICLONE refused: this filesystem or this pair of files does not support reflinks\)$/,
    );
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    expect(lstatSync(join(tree, 'b', 'one.bin')).ino).toBe(inoBefore);
    expect(stageDirs(mnt)).toEqual([]);
    expect(
      execFileSync('filefrag', ['-v', join(tree, 'b', 'two.bin')], { encoding: 'utf8' }),
    ).toMatch(/shared/);
  });

  it('a clone that cannot take the target owner fails that action, leaves nothing behind (as nobody)', (ctx) => {
    requireMounts(ctx);
    const mnt = join(dir, 'xfs-nobody');
    mountImage(join(dir, 'xfs-nobody.img'), mnt, 'xfs', 320);
    const tree = join(mnt, 't');
    writeTree(tree, { 'a/one.bin': Buffer.alloc(50_000, 1), 'b/one.bin': Buffer.alloc(50_000, 1) });
    writeTree(tree, { 'a/two.bin': Buffer.alloc(50_000, 2), 'b/two.bin': Buffer.alloc(50_000, 2) });
    const catDir = join(dir, 'nobody-cat');
    mkdirSync(catDir);
    spawnSync('chown', ['-R', '65534:65534', tree, catDir]);
    spawnSync('chmod', ['755', mnt, dir]);
    chownSync(join(tree, 'b', 'two.bin'), 1234, 1234); // not nobody's: nobody cannot chown to it
    const cat = join(catDir, 'c.db');
    const nobody = { uid: 65534, gid: 65534 };
    const run = (args: string[]) =>
      hashall([...args, '--catalog', cat, '--json'], { asUser: nobody });
    expect(run(['scan', tree]).code).toBe(0);
    const plan = run([
      'conductor',
      'plan',
      'nobody',
      '--mode',
      'reflink',
      '--keep',
      'path',
    ]).json<PlanJson>();
    expect(plan.actions.REFLINK).toBe(2);
    const before = snapshot(tree);
    const r = run(['conductor', 'execute', String(plan.id), '--force']);
    expect(r.code).toBe(1);
    const doc = r.json<ExecJson>();
    expect(doc.executed).toBe(1);
    expect(doc.failed).toBe(1);
    expect(doc.failures[0]!.target).toBe(join(tree, 'b', 'two.bin'));
    expect(doc.failures[0]!.error).toMatch(/EPERM/);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    expect(lstatSync(join(tree, 'b', 'two.bin')).uid).toBe(1234);
    expect(lstatSync(join(tree, 'b', 'one.bin')).uid).toBe(65534);
    expect(stageDirs(tree)).toEqual([]);
  });
});

/** Ten groups of three copies each, in two directories. */
function makeGroups(tree: string): void {
  const files: Record<string, Buffer> = {};
  for (let g = 0; g < 10; g++) {
    const content = Buffer.concat([Buffer.alloc(64 * 1024, 97 + g), Buffer.from(`group ${g}`)]);
    files[`a/g${g}.bin`] = content;
    files[`b/g${g}.bin`] = content;
    files[`b/copy of g${g}.bin`] = content;
  }
  writeTree(tree, files);
}

describe('crashes at every step of the clone protocol (XFS)', () => {
  let dir: string;
  let mnt: string;
  beforeAll(() => {
    dir = tempDir('hashall-reflink-crash-');
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });
  const points = [
    'after-journal',
    'after-clone',
    'after-clone-meta',
    'before-rename',
    'after-rename',
    'after-commit',
  ];

  it.for(points)(
    'SIGKILL %s: every path keeps its content, the next run recovers',
    (point, ctx) => {
      requireMounts(ctx);
      if (!mnt) {
        mnt = join(dir, 'xfs');
        mountImage(join(dir, 'xfs.img'), mnt, 'xfs', 320);
      }
      const base = join(mnt, point);
      const tree = join(base, 't');
      makeGroups(tree);
      writeFileSync(join(base, 'marker'), 'x');
      const cat = join(dir, `${point}.db`);
      hashall(['scan', tree, '--catalog', cat, '-q']);
      const plan = json<PlanJson>(['conductor', 'plan', 'crash', '--mode', 'reflink'], cat).doc;
      expect(plan.actions.REFLINK).toBe(20);
      const before = snapshot(tree);
      killExecuteAt(cat, plan.id, { point, after: 3 });
      // Every path has its content; the only extra entry may be our staging directory.
      expect(
        contentDiff(before, snapshot(tree)).filter((d) => !d.includes('.hashall-tmp-')),
      ).toEqual([]);
      const stages = stageDirs(tree);
      const withClone = ['after-clone', 'after-clone-meta', 'before-rename'].includes(point);
      expect(stages).toHaveLength(withClone || point === 'after-rename' ? 1 : 0);
      if (stages.length) {
        expect(readdirSync(stages[0]!)).toEqual(withClone ? ['clone'] : []);
        expect(lstatSync(stages[0]!).mode & 0o7777).toBe(0o700);
      }
      const { integrity, journal } = leftBehind(cat);
      expect(integrity).toBe('ok');
      if (point === 'after-commit') expect(journal).toBe(0);
      else expect(journal).toBeGreaterThanOrEqual(4);

      const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
      expect(r.code).toBe(0);
      if (point !== 'after-commit') {
        expect(r.stderr).toMatch(/Recovered an interrupted run/);
        expect(r.doc.recovery!.rolled_forward + r.doc.recovery!.rolled_back).toBe(journal);
        expect(r.doc.recovery!.rolled_forward).toBe(point === 'after-rename' ? 4 : 3);
        expect(r.doc.recovery!.temp_links_removed).toBe(stages.length);
      }
      expect(r.doc.status).toBe('executed');
      expect(r.doc.failed).toBe(0);
      expect(r.doc.plan_bytes_saved).toBe(plan.bytes_saveable);
      expect(r.doc.bytes_saved).toBeLessThanOrEqual(plan.bytes_saveable);
      const after = snapshot(tree);
      expect(contentDiff(before, after)).toEqual([]);
      // 30 paths, 30 inodes: clones, never links.
      expect(new Set([...after.values()].map((e) => e.ino)).size).toBe(30);
      expect(stageDirs(tree)).toEqual([]);
      // The catalog's rows match the disk: a rescan finds nothing changed.
      const rescan = json<{ changed: number }>(['scan', tree], cat).doc;
      expect(rescan.changed).toBe(0);
    },
  );
});
