/**
 * `conductor undo` and `conductor discard` (issue 12 §5) on real trees through the real CLI:
 * undo gives every replaced path its own copy with the metadata it had before execute, leaves
 * paths changed since alone, refuses what does not fit, survives SIGKILL at every step, and a
 * dry run changes nothing; discard removes only plans nobody ran.
 */
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  chmodSync,
  lstatSync,
  readdirSync,
  renameSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall } from '../helpers/cli.js';
import { waitForCatalog } from '../helpers/wait.js';
import {
  mountTmpfs,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';
import { contentDiff, inodeBytes, snapshot } from '../helpers/snapshot.js';
import { checkUndoable } from '../../src/conductor/undo.js';
import { processStartTime } from '../../src/fs/process.js';
import { hostname } from 'node:os';
import type { PlanRow } from '../../src/catalog/plans.js';

interface UndoJson {
  plan_id: number;
  dry_run: boolean;
  restored: number;
  would_restore: number;
  left_alone: number;
  failed: number;
  metadata_not_recorded: number;
  bytes_restored: number;
  status: string;
  recovery: { rolled_forward: number; rolled_back: number; copies_removed: number } | null;
  left: { target: string; reason: string }[];
  space: { needed: number; available: number | null; paths: number }[];
}

function cli(args: string[], cat: string, env: Record<string, string> = {}) {
  const r = hashall([...args, '--catalog', cat, '--json'], { env });
  return { code: r.code, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

function doc<T>(r: { stdout: string }): T {
  return JSON.parse(r.stdout) as T;
}

const GROUPS = 6;
const COPIES = ['orig', 'copy1', 'copy2'];
const t = (iso: string) => new Date(iso);

/**
 * Six groups of three copies. Owner, group and mode are equal within a group (or execute would
 * skip it) but differ from the defaults and between groups; every path has its own mtime and
 * atime, and orig/ holds the oldest copy (kept). Sizes are whole 4 KiB blocks, so du counts them
 * exactly.
 */
function makeTree(tree: string): void {
  for (let g = 0; g < GROUPS; g++) {
    const content = randomBytes(4096 * (g + 2));
    for (const [i, c] of COPIES.entries()) {
      const p = join(tree, c, `g${g}.bin`);
      writeTree(tree, { [`${c}/g${g}.bin`]: content });
      chownSync(p, 1000 + g, 2000 + g);
      chmodSync(p, g % 2 ? 0o604 : 0o640);
      utimesSync(
        p,
        t(`2024-0${i + 1}-1${g}T10:00:00.123456Z`),
        t(`20${19 + i}-0${g + 1}-02T03:04:05.654321Z`),
      );
    }
  }
}

interface Meta {
  uid: bigint;
  gid: bigint;
  mode: bigint;
  mtimeUs: bigint;
  atimeUs: bigint;
}

function metaOf(p: string): Meta {
  const s = lstatSync(p, { bigint: true });
  return {
    uid: s.uid,
    gid: s.gid,
    mode: s.mode,
    mtimeUs: s.mtimeNs / 1000n,
    atimeUs: s.atimeNs / 1000n,
  };
}

function metas(tree: string): Map<string, Meta> {
  const m = new Map<string, Meta>();
  for (const c of COPIES)
    for (let g = 0; g < GROUPS; g++) m.set(`${c}/g${g}.bin`, metaOf(join(tree, c, `g${g}.bin`)));
  return m;
}

function du(dir: string): number {
  return Number(execFileSync('du', ['-sB1', dir], { encoding: 'utf8' }).split('\t')[0]);
}

function strayCopies(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.hashall-undo-')) out.push(join(d, e.name));
      if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

/** Scan, plan and execute a fresh tree; returns what it held just before execute. */
function executed(base: string) {
  const tree = join(base, 't');
  const cat = join(base, 'c.db');
  makeTree(tree);
  expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
  const plan = doc<{ id: number; bytes_saveable: number }>(cli(['conductor', 'plan', 'p'], cat));
  // Read the content first: a read may move atimes (relatime); execute records them after.
  const before = snapshot(tree);
  const meta = metas(tree);
  const duBefore = du(tree);
  const ex = cli(['conductor', 'execute', String(plan.id), '--force'], cat);
  expect(ex.code).toBe(0);
  expect(doc<{ bytes_saved: number }>(ex).bytes_saved).toBe(plan.bytes_saveable);
  return { tree, cat, plan, before, meta, duBefore };
}

let dir: string;
afterAll(() => {
  unmountAll();
  if (dir) removeTree(dir);
});
function base(name: string): string {
  dir ??= tempDir();
  return join(dir, name);
}

/** Every path has its content, its own inode (nlink 1) and the metadata it had before execute. */
function expectRestored(
  tree: string,
  before: ReturnType<typeof snapshot>,
  meta: Map<string, Meta>,
  readSince: readonly string[] = [],
) {
  // Metadata before content: reading a file may move its atime (relatime).
  const inodes = new Set<number>();
  for (const [rel, m] of meta) {
    const p = join(tree, rel);
    expect(lstatSync(p).nlink, rel).toBe(1);
    inodes.add(lstatSync(p).ino);
    const atimeMoved = kept(rel) || readSince.includes(rel);
    expect(metaOf(p), rel).toEqual(atimeMoved ? { ...m, atimeUs: metaOf(p).atimeUs } : m);
  }
  expect(inodes.size).toBe(meta.size);
  expect(contentDiff(before, snapshot(tree))).toEqual([]);
}

/**
 * The kept copies (orig/) are never written; reading them (execute, undo) moves their atime
 * after linking moved their ctime (relatime), which is the kernel's doing, not ours.
 */
function kept(rel: string): boolean {
  return rel.startsWith('orig/');
}

describe('undo an executed hardlink plan', () => {
  it('restores every path: content, owner, group, mode, mtime, atime, its own inode; du grows back by the freed bytes', () => {
    const { tree, cat, plan, before, meta, duBefore } = executed(base('full'));
    const duLinked = du(tree);
    expect(duBefore - duLinked).toBe(plan.bytes_saveable);
    // Linked: every copy shows the kept (orig/) file's metadata.
    expect(metaOf(join(tree, 'copy1/g0.bin'))).toEqual(meta.get('orig/g0.bin'));

    const r = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const u = doc<UndoJson>(r);
    expect(u).toMatchObject({
      restored: GROUPS * 2,
      left_alone: 0,
      failed: 0,
      metadata_not_recorded: 0,
      status: 'undone',
      bytes_restored: plan.bytes_saveable,
    });
    expectRestored(tree, before, meta);
    expect(du(tree) - duLinked).toBe(plan.bytes_saveable);
    expect(inodeBytes(snapshot(tree))).toBe(inodeBytes(before));
    expect(strayCopies(tree)).toEqual([]);

    // The catalog sees the duplicates again: a new plan finds every one of them.
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const again = doc<{ bytes_saveable: number }>(cli(['conductor', 'plan', 'again'], cat));
    expect(again.bytes_saveable).toBe(plan.bytes_saveable);
    const db = new Database(cat, { readonly: true });
    const rows = db
      .prepare(
        `SELECT count(DISTINCT inode) AS n FROM file_paths WHERE status = 'active' AND nlink = 1`,
      )
      .get() as { n: number };
    db.close();
    expect(rows.n).toBe(GROUPS * COPIES.length);

    // Status, and what may follow.
    const show = doc<{ status: string }>(cli(['conductor', 'show-plan', String(plan.id)], cat));
    expect(show.status).toBe('undone');
    const twice = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/plan \d+ is already undone/);
    const exec = cli(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(exec.code).toBe(2);
    expect(exec.stderr).toMatch(/is undone: .*make a new plan/);
  });

  it('the catalog rows follow: a rescan right after undo finds nothing changed', () => {
    const { tree, cat, plan } = executed(base('rows'));
    // Human output off a terminal: nothing left alone or failed prints no warning word.
    const human = hashall(['conductor', 'undo', String(plan.id), '--force', '--catalog', cat]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Left alone \(changed since execute\): 0$/m);
    expect(human.stdout).toMatch(/^Failed: 0$/m);
    expect(human.stdout).not.toMatch(/FAILED|warning:/);
    const s = doc<{ changed: number; new: number; moved: number }>(cli(['scan', tree], cat));
    expect({ changed: s.changed, new: s.new, moved: s.moved }).toEqual({
      changed: 0,
      new: 0,
      moved: 0,
    });
  });

  it('a path changed since execute is left alone and reported; the rest is restored', () => {
    const { tree, cat, plan, before, meta } = executed(base('changed'));
    // copy1/g1.bin replaced by another file, which takes a link from group 1's kept inode (its
    // ctime moves: copy2/g1.bin is left too); group 2's kept inode touched (all its links).
    writeFileSync(join(tree, 'copy1/new'), 'someone else wrote this');
    renameSync(join(tree, 'copy1/new'), join(tree, 'copy1/g1.bin'));
    utimesSync(join(tree, 'orig/g2.bin'), new Date(), new Date());
    const replaced = lstatSync(join(tree, 'copy1/g1.bin'), { bigint: true });
    const g2 = lstatSync(join(tree, 'copy2/g2.bin'), { bigint: true });
    const g1 = lstatSync(join(tree, 'copy2/g1.bin'), { bigint: true });

    const r = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(r.code).toBe(1);
    const u = doc<UndoJson>(r);
    expect(u.left_alone).toBe(4);
    expect(u.restored).toBe(GROUPS * 2 - 4);
    expect(u.status).toBe('partially-undone');
    expect(u.left.map((l) => l.target).sort()).toEqual(
      ['copy1/g1.bin', 'copy2/g1.bin', 'copy1/g2.bin', 'copy2/g2.bin']
        .map((r) => join(tree, r))
        .sort(),
    );
    expect(u.left.find((l) => l.target.endsWith('copy1/g1.bin'))!.reason).toMatch(
      /changed since execute: no longer a link of the kept file/,
    );
    expect(u.left.find((l) => l.target.endsWith('copy2/g2.bin'))!.reason).toMatch(
      /changed since execute: modified/,
    );
    expect(u.left.find((l) => l.target.endsWith('copy2/g1.bin'))!.reason).toMatch(
      /changed since execute: ctime changed/,
    );
    // Left alone means untouched.
    const now = lstatSync(join(tree, 'copy1/g1.bin'), { bigint: true });
    expect([now.ino, now.ctimeNs]).toEqual([replaced.ino, replaced.ctimeNs]);
    const g2now = lstatSync(join(tree, 'copy2/g2.bin'), { bigint: true });
    expect([g2now.ino, g2now.nlink, g2now.ctimeNs]).toEqual([g2.ino, g2.nlink, g2.ctimeNs]);
    const g1now = lstatSync(join(tree, 'copy2/g1.bin'), { bigint: true });
    expect([g1now.ino, g1now.nlink, g1now.ctimeNs]).toEqual([g1.ino, g1.nlink, g1.ctimeNs]);
    // Everything else is restored.
    const rest = new Map([...meta].filter(([k]) => !k.endsWith('g1.bin') && !k.endsWith('g2.bin')));
    const restBefore = new Map(
      [...before].filter(([k]) => !k.endsWith('g1.bin') && !k.endsWith('g2.bin')),
    );
    for (const [rel, m] of rest) {
      const now = metaOf(join(tree, rel));
      expect(now, rel).toEqual(kept(rel) ? { ...m, atimeUs: now.atimeUs } : m);
      expect(lstatSync(join(tree, rel)).nlink, rel).toBe(1);
    }
    const after = snapshot(tree);
    for (const [k, e] of restBefore) expect(after.get(k)!.sha).toBe(e.sha);
    const show = doc<{ status: string; actions: { target: string; undo_status: string }[] }>(
      cli(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat),
    );
    expect(show.status).toBe('partially-undone');
    const left = new Set(u.left.map((l) => l.target));
    for (const a of show.actions)
      expect(a.undo_status, a.target).toBe(left.has(a.target) ? 'left' : 'undone');
    const text = hashall(['conductor', 'show-plan', String(plan.id), '--catalog', cat]).stdout;
    expect(text).toMatch(/Status: partially-undone/);
    expect(text).toMatch(/Undo: left alone \(changed since execute\)/);
    expect(text).toMatch(/Undo: undone/);
  });

  it('a directory swapped for a symlink since execute is never followed: its paths are left alone', () => {
    const { tree, cat, plan, meta } = executed(base('symlinked'));
    renameSync(join(tree, 'copy2'), join(tree, 'copy2-moved'));
    symlinkSync(join(tree, 'copy2-moved'), join(tree, 'copy2'));
    const inodes = readdirSync(join(tree, 'copy2-moved')).map((n) => [
      n,
      lstatSync(join(tree, 'copy2-moved', n)).ino,
    ]);
    const r = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(r.code).toBe(1);
    const u = doc<UndoJson>(r);
    expect(u).toMatchObject({ restored: GROUPS, left_alone: GROUPS, status: 'partially-undone' });
    for (const l of u.left) {
      expect(l.target).toMatch(/\/copy2\/g\d\.bin$/);
      expect(l.reason).toMatch(
        /^changed since execute: copy2 on the path .* is no longer a directory/,
      );
    }
    // Behind the symlink: untouched, still links of the kept files.
    for (const [n, ino] of inodes)
      expect(lstatSync(join(tree, 'copy2-moved', String(n))).ino).toBe(ino);
    expect(readdirSync(join(tree, 'copy2-moved')).filter((n) => n.startsWith('.hashall'))).toEqual(
      [],
    );
    for (let g = 0; g < GROUPS; g++) {
      const rel = `copy1/g${g}.bin`;
      expect(metaOf(join(tree, rel)), rel).toEqual(meta.get(rel));
    }
  });

  it('--dry-run checks every path and changes nothing, not even the catalog', () => {
    const { tree, cat, plan } = executed(base('dry'));
    const disk = snapshot(tree);
    const metaLinked = metas(tree);
    const catBefore = execFileSync('sha256sum', [cat], { encoding: 'utf8' }).split(' ')[0];
    const r = cli(['conductor', 'undo', String(plan.id), '--dry-run'], cat);
    expect(r.code).toBe(0);
    const u = doc<UndoJson>(r);
    expect(u).toMatchObject({
      dry_run: true,
      would_restore: GROUPS * 2,
      restored: 0,
      status: 'executed',
    });
    expect(contentDiff(disk, snapshot(tree))).toEqual([]);
    for (const [k, e] of snapshot(tree)) expect(e.ino).toBe(disk.get(k)!.ino);
    expect(metas(tree)).toEqual(metaLinked);
    expect(execFileSync('sha256sum', [cat], { encoding: 'utf8' }).split(' ')[0]).toBe(catBefore);
    expect(strayCopies(tree)).toEqual([]);
  });

  it('refuses without --force when not on a terminal, and names the command to check it', () => {
    const { cat, plan } = executed(base('force'));
    const r = cli(['conductor', 'undo', String(plan.id)], cat);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^hashall: error: refusing to undo plan \d+ without --force when not on a terminal; check it with 'hashall conductor undo \d+ --dry-run', then add --force\n$/,
    );
  });

  it('a plan executed before the metadata was recorded: content, owner/group/mode and the planned mtime, said so', () => {
    const { tree, cat, plan, before, meta } = executed(base('legacy'));
    const db = new Database(cat);
    db.prepare(
      `UPDATE conductor_actions SET orig_uid = NULL, orig_gid = NULL, orig_mode = NULL, orig_atime_ns = NULL, orig_mtime_ns = NULL`,
    ).run();
    db.close();
    const r = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    const u = doc<UndoJson>(r);
    expect(u).toMatchObject({
      restored: GROUPS * 2,
      metadata_not_recorded: GROUPS * 2,
      status: 'undone',
    });
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    for (const [rel, m] of meta) {
      const now = metaOf(join(tree, rel));
      expect({ ...now, atimeUs: 0n }, rel).toEqual({ ...m, atimeUs: 0n });
    }
    const text = hashall(['conductor', 'show-plan', String(plan.id), '--catalog', cat]).stdout;
    expect(text).toMatch(/Status: undone/);
  });
});

describe('one executor at a time', () => {
  it('undo and discard are refused while another process holds the plan (the lock names it)', () => {
    const { tree, cat, plan } = executed(base('lock'));
    const pending = doc<{ id: number }>(cli(['conductor', 'plan', 'pending'], cat));
    // A live holder: this test process itself, executing the pending plan.
    const db = new Database(cat);
    db.prepare(
      // A lock on every device (the plan's among them): the executor lock is per device.
      'INSERT INTO executor_device_lock (device_id, pid, start_time, hostname, plan_id, acquired_at) SELECT id, ?, ?, ?, ?, ? FROM devices',
    ).run(process.pid, processStartTime(process.pid), hostname(), pending.id, Date.now());
    db.close();
    const disk = snapshot(tree);
    const u = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(
      new RegExp(
        `another hashall execute holds this device: device \\d+ is being executed by pid ${process.pid} on host `,
      ),
    );
    const d = cli(['conductor', 'discard', String(pending.id)], cat);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(
      new RegExp(`plan ${pending.id} is executing now \\(pid ${process.pid}`),
    );
    for (const [k, e] of snapshot(tree)) expect(e.ino).toBe(disk.get(k)!.ino);
    // A plan marked executing whose holder is gone is not discarded either: it may have run.
    const db2 = new Database(cat);
    db2.prepare('DELETE FROM executor_device_lock').run();
    db2.prepare(`UPDATE conductor_plans SET status = 'executing' WHERE id = ?`).run(pending.id);
    db2.close();
    const d2 = cli(['conductor', 'discard', String(pending.id)], cat);
    expect(d2.code).toBe(2);
    expect(d2.stderr).toMatch(/is executing: only a plan that was never executed can be discarded/);
  });
});

describe('Ctrl-C and reflink plans', () => {
  it('Ctrl-C stops after the current path, exits 130, and undo resumes', async () => {
    const { tree, cat, plan, before, meta } = executed(base('ctrl-c'));
    const child = spawn(
      process.execPath,
      [CLI, 'conductor', 'undo', String(plan.id), '--force', '--json', '--catalog', cat],
      { env: { ...process.env, HASHALL_FAILPOINT_DELAY: 'undo-action=200' } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitForCatalog(
      cat,
      `SELECT count(*) AS n FROM conductor_actions WHERE undo_status = 'undone'`,
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    const first = JSON.parse(out) as UndoJson & { interrupted: boolean };
    expect(first.interrupted).toBe(true);
    expect(first.status).toBe('partially-undone');
    expect(first.restored).toBeGreaterThan(0);
    expect(first.restored).toBeLessThan(GROUPS * 2);
    const early = [...meta.keys()].filter(
      (rel) => !kept(rel) && lstatSync(join(tree, rel)).nlink === 1,
    );
    expect(early).toHaveLength(first.restored);
    for (const rel of early) expect(metaOf(join(tree, rel)), rel).toEqual(meta.get(rel));
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    const r = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    expect(doc<UndoJson>(r)).toMatchObject({
      restored: GROUPS * 2 - first.restored,
      status: 'undone',
    });
    expectRestored(tree, before, meta, early);
  });

  it('a reflink plan is refused with the reason, and nothing is touched', () => {
    const b = base('reflink');
    const tree = join(b, 't');
    const cat = join(b, 'c.db');
    writeTree(tree, { 'a/x': 'same content\n'.repeat(50), 'b/x': 'same content\n'.repeat(50) });
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    // Made on this filesystem, with or without reflinks: undo refuses any reflink plan.
    const plan = doc<{ id: number }>(cli(['conductor', 'plan', 'r', '--mode', 'reflink'], cat));
    expect(cli(['conductor', 'execute', String(plan.id), '--force'], cat).code).toBe(0);
    const disk = snapshot(tree);
    for (const args of [['--force'], ['--dry-run']]) {
      const r = cli(['conductor', 'undo', String(plan.id), ...args], cat);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `hashall: error: plan ${plan.id} is a reflink plan: its targets are already independent files with their own owner, mode and times (clones share blocks copy-on-write, and writing one never changes another); there is nothing to undo\n`,
      );
    }
    for (const [k, e] of snapshot(tree)) expect(e.ino).toBe(disk.get(k)!.ino);
  });
});

describe('crashes at every step of undo', () => {
  const points = [
    'undo-after-journal',
    'undo-after-copy',
    'undo-after-meta',
    'undo-before-rename',
    'undo-after-rename',
    'undo-after-commit',
  ];
  it.each(points)(
    'SIGKILL %s: no path lost or changed, the next undo recovers and finishes',
    (point) => {
      const { tree, cat, plan, before, meta } = executed(base(point));
      const killed = hashall(['conductor', 'undo', String(plan.id), '--force', '--catalog', cat], {
        env: { HASHALL_FAILPOINT: point, HASHALL_FAILPOINT_AFTER: '2' },
      });
      expect(killed.signal).toBe('SIGKILL');
      // Paths restored before the kill have their metadata (checked before anything reads them).
      const early = [...meta.keys()].filter(
        (rel) => !kept(rel) && lstatSync(join(tree, rel)).nlink === 1,
      );
      expect(early.length).toBe(
        point === 'undo-after-rename' || point === 'undo-after-commit' ? 3 : 2,
      );
      for (const rel of early) expect(metaOf(join(tree, rel)), rel).toEqual(meta.get(rel));
      // Every path has its content; the only extra name may be our copy.
      expect(
        contentDiff(before, snapshot(tree)).filter((d) => !d.includes('.hashall-undo-')),
      ).toEqual([]);
      const copies = strayCopies(tree).length;
      expect(copies).toBe(
        ['undo-after-journal', 'undo-after-rename', 'undo-after-commit'].includes(point) ? 0 : 1,
      );
      const db = new Database(cat, { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const journal = (
        db.prepare('SELECT count(*) AS n FROM conductor_undo_journal').get() as { n: number }
      ).n;
      db.close();
      expect(journal).toBe(point === 'undo-after-commit' ? 0 : 1);
      const mid = doc<{ status: string }>(cli(['conductor', 'show-plan', String(plan.id)], cat));
      expect(mid.status).toBe('undoing');

      const r = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
      expect(r.code).toBe(0);
      const u = doc<UndoJson>(r);
      if (point !== 'undo-after-commit') {
        expect(r.stderr).toMatch(/Recovered an interrupted undo/);
        expect(u.recovery).toEqual({
          rolled_forward: point === 'undo-after-rename' ? 1 : 0,
          rolled_back: point === 'undo-after-rename' ? 0 : 1,
          copies_removed: copies,
        });
      }
      // Two restored before the crash (three when it came after the rename).
      expect(u.restored).toBe(
        GROUPS * 2 - (point === 'undo-after-rename' || point === 'undo-after-commit' ? 3 : 2),
      );
      expect(u.status).toBe('undone');
      // The early ones were read since (their atime moved): their atime was checked above.
      expectRestored(tree, before, meta, early);
      expect(strayCopies(tree)).toEqual([]);
    },
  );
});

describe('a killed undo is recovered by the next scan or execute too', () => {
  it.each(['scan', 'execute'])('%s removes the copy and rolls back; undo then finishes', (cmd) => {
    const { tree, cat, plan, before, meta } = executed(base(`recover-${cmd}`));
    const killed = hashall(['conductor', 'undo', String(plan.id), '--force', '--catalog', cat], {
      env: { HASHALL_FAILPOINT: 'undo-before-rename', HASHALL_FAILPOINT_AFTER: '1' },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(strayCopies(tree)).toHaveLength(1);
    // Another plan, of nothing here: its execute recovers first.
    const other = doc<{ id: number }>(
      cli(['conductor', 'plan', 'other', '--min-size', '1GB'], cat),
    );
    const r =
      cmd === 'scan'
        ? cli(['scan', join(tree, 'orig')], cat)
        : cli(['conductor', 'execute', String(other.id), '--force'], cat);
    expect(r.stderr).toMatch(
      /Recovered an interrupted undo: 0 paths restored, 1 rolled back, 1 temporary copy removed/,
    );
    expect(strayCopies(tree)).toEqual([]);
    expect(
      doc<{ status: string }>(cli(['conductor', 'show-plan', String(plan.id)], cat)).status,
    ).toBe('partially-undone');
    const early = [...meta.keys()].filter(
      (rel) => !kept(rel) && lstatSync(join(tree, rel)).nlink === 1,
    );
    expect(early).toHaveLength(1);
    const u = cli(['conductor', 'undo', String(plan.id), '--force'], cat);
    expect(u.code).toBe(0);
    expect(doc<UndoJson>(u)).toMatchObject({ restored: GROUPS * 2 - 1, status: 'undone' });
    expectRestored(tree, before, meta, early);
  });
});

describe('free space', () => {
  it('refuses with the figures when the copies do not fit, and changes nothing', (ctx) => {
    requireMounts(ctx);
    const b = base('space');
    const mnt = join(b, 'mnt');
    mountTmpfs(mnt, 1);
    const tree = join(mnt, 't');
    const cat = join(b, 'c.db');
    const content = randomBytes(200 * 1024);
    writeTree(tree, { 'a/x.bin': content, 'b/x.bin': content, 'c/x.bin': content });
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const plan = doc<{ id: number }>(cli(['conductor', 'plan', 'p'], cat));
    expect(cli(['conductor', 'execute', String(plan.id), '--force'], cat).code).toBe(0);
    // Fill the filesystem but for ~150 KiB: two copies of 200 KiB cannot fit.
    const free = Number(
      execFileSync('df', ['-B1', '--output=avail', mnt], { encoding: 'utf8' }).split('\n')[1],
    );
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(free - 150 * 1024));
    const disk = snapshot(tree);
    for (const args of [['--force'], ['--dry-run']]) {
      const r = cli(['conductor', 'undo', String(plan.id), ...args], cat);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        /^hashall: error: not enough free space to undo plan \d+: .*: needs 4\d\d\.\d KB \(4\d\d,\d{3} bytes\) for 2 copies, 1\d\d\.\d KB \(1\d\d,\d{3} bytes\) available; free some space first \(nothing was changed\)\n$/,
      );
    }
    expect(contentDiff(disk, snapshot(tree))).toEqual([]);
    for (const [k, e] of snapshot(tree)) expect(e.ino).toBe(disk.get(k)!.ino);
    expect(strayCopies(tree)).toEqual([]);
    expect(
      doc<{ status: string }>(cli(['conductor', 'show-plan', String(plan.id)], cat)).status,
    ).toBe('executed');
  });
});

describe('discard', () => {
  it('removes a pending plan and its actions; refuses, with the reason, one that ran', () => {
    const b = base('discard');
    const tree = join(b, 't');
    const cat = join(b, 'c.db');
    writeTree(tree, { 'a/x': 'same content\n'.repeat(50), 'b/x': 'same content\n'.repeat(50) });
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const keep = doc<{ id: number }>(cli(['conductor', 'plan', 'keep me'], cat));
    const drop = doc<{ id: number }>(cli(['conductor', 'plan', 'nobody runs me'], cat));
    const disk = snapshot(tree);
    const r = cli(['conductor', 'discard', String(drop.id)], cat);
    expect(r.code).toBe(0);
    expect(doc(r)).toEqual({ plan_id: drop.id, discarded: true, actions: 1 });
    expect(contentDiff(disk, snapshot(tree))).toEqual([]);
    const plans = doc<{ plans: { id: number }[] }>(cli(['conductor', 'plans'], cat));
    expect(plans.plans.map((p) => p.id)).toEqual([keep.id]);
    const db = new Database(cat, { readonly: true });
    expect(
      db.prepare('SELECT count(*) AS n FROM conductor_actions WHERE plan_id = ?').get(drop.id),
    ).toEqual({ n: 0 });
    db.close();
    const gone = cli(['conductor', 'discard', String(drop.id)], cat);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/no plan with id/);

    expect(cli(['conductor', 'execute', String(keep.id), '--force'], cat).code).toBe(0);
    const refused = cli(['conductor', 'discard', String(keep.id)], cat);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      `hashall: error: plan ${keep.id} is executed: only a plan that was never executed can be discarded (it is the record of what was done to the disk); 'hashall conductor undo ${keep.id}' gives the replaced paths their own copies back\n`,
    );
    expect(doc<{ plans: { id: number }[] }>(cli(['conductor', 'plans'], cat)).plans).toHaveLength(
      1,
    );
    // A pending plan cannot be undone: discard it instead.
    const pending = doc<{ id: number }>(cli(['conductor', 'plan', 'later'], cat));
    const u = cli(['conductor', 'undo', String(pending.id), '--force'], cat);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(
      /was never executed: nothing to undo; 'hashall conductor discard \d+' removes it/,
    );
  });
});

describe('plans undo refuses', () => {
  const plan = (over: Partial<PlanRow>): PlanRow => ({
    id: 7,
    name: 'p',
    status: 'executed',
    createdAt: 0,
    executedAt: 0,
    options: {
      deviceId: null,
      deviceAlias: null,
      sameDevice: true,
      crossDevice: false,
      keep: 'most-linked',
    },
    opportunities: 1,
    bytesSaveable: 1,
    pendingGroups: 0,
    ...over,
  });
  it('a reflink plan (its clones are already independent files), with the reason', () => {
    expect(() =>
      checkUndoable(plan({ options: { ...plan({}).options, mode: 'reflink' } })),
    ).toThrow(
      /plan 7 is a reflink plan: its targets are already independent files .*there is nothing to undo/,
    );
    expect(() => checkUndoable(plan({ status: 'executing' }))).toThrow(/is executing now/);
    expect(() => checkUndoable(plan({}))).not.toThrow();
    expect(() => checkUndoable(plan({ status: 'partial' }))).not.toThrow();
    expect(() => checkUndoable(plan({ status: 'partially-undone' }))).not.toThrow();
  });
});
