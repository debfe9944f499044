/**
 * Execute against a disk that no longer matches the plan, crashes at every step of the replace
 * protocol, Ctrl-C, the executor lock, and cross-device duplicates on real filesystems.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  linkSync,
  lstatSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall } from '../helpers/cli.js';
import {
  mountImage,
  mountTmpfs,
  removeTree,
  requireMounts,
  tempDir,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';
import { contentDiff, inodeBytes, snapshot } from '../helpers/snapshot.js';
import { waitForCatalog } from '../helpers/wait.js';
import { processStartTime } from '../../src/fs/process.js';
import { killExecuteAt, leftBehind } from '../helpers/kill-at.js';

interface ExecJson {
  executed: number;
  noop: number;
  failed: number;
  bytes_saved: number;
  plan_bytes_saved: number;
  status: string;
  interrupted: boolean;
  recovery: { rolled_forward: number; rolled_back: number; temp_links_removed: number } | null;
  failures: { target: string; error: string }[];
}

function json<T>(
  args: string[],
  cat: string,
  env: Record<string, string> = {},
): { code: number | null; doc: T; stderr: string } {
  const r = hashall([...args, '--catalog', cat, '--json'], { env });
  return { code: r.code, doc: r.stdout ? r.json<T>() : (undefined as T), stderr: r.stderr };
}

const BIG = (tag: string) => Buffer.alloc(20_000, tag);

/** Ten groups of three copies each, in two directories. */
function makeGroups(tree: string): void {
  const files: Record<string, Buffer> = {};
  for (let g = 0; g < 10; g++) {
    const content = Buffer.concat([BIG(String.fromCharCode(97 + g)), Buffer.from(`group ${g}`)]);
    files[`a/g${g}.bin`] = content;
    files[`b/g${g}.bin`] = content;
    files[`b/copy of g${g}.bin`] = content;
  }
  writeTree(tree, files);
}

function strayTemps(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.hashall-tmp-')) out.push(join(d, e.name));
      if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

describe('execute against a disk that changed since the plan', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeTree(dir));

  it('links nothing that changed in any way, and links the rest', () => {
    const tree = join(dir, 't');
    makeGroups(tree);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    const plan = json<{ id: number; actions: { HARDLINK: number } }>(
      ['conductor', 'plan', 'stale'],
      cat,
    ).doc;
    expect(plan.actions.HARDLINK).toBe(20);
    // Which path is the target depends on the keep rule: find the targets from the plan.
    const show = json<{ actions: { type: string; target: string; source: string }[] }>(
      ['conductor', 'show-plan', String(plan.id), '--limit', '0'],
      cat,
    ).doc;
    const targets = show.actions.filter((a) => a.type === 'HARDLINK').map((a) => a.target);
    const sources = new Set(show.actions.filter((a) => a.type === 'HARDLINK').map((a) => a.source));
    const t = (g: number) => targets.filter((p) => p.includes(`g${g}.bin`));
    const other = join(dir, 'other.bin');
    writeFileSync(other, 'unrelated');

    appendFileSync(t(0)[0]!, 'x'); // appended
    truncateSync(t(1)[0]!, 100); // truncated
    {
      // rewritten with the same size and the old mtime restored (what cp -a does)
      const p = t(2)[0]!;
      const st = lstatSync(p);
      const buf = Buffer.alloc(st.size, 'Z');
      writeFileSync(p, buf);
      utimesSync(p, st.atime, st.mtime);
    }
    {
      // replaced by a different file (new inode) with the same content under the same name
      const p = t(3)[0]!;
      const tmp = `${p}.new`;
      writeFileSync(tmp, Buffer.from(require_content(p)));
      renameSync(tmp, p);
    }
    {
      const p = t(4)[0]!;
      unlinkSync(p);
      symlinkSync(other, p); // replaced by a symlink
    }
    unlinkSync(t(5)[0]!); // deleted
    {
      const p = t(6)[0]!;
      unlinkSync(p);
      linkSync(other, p); // made a hardlink of something else
    }
    const before = snapshot(tree);
    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(1);
    expect(r.doc.failed).toBe(7);
    expect(r.doc.executed).toBe(13);
    expect(r.doc.status).toBe('partial');
    for (const f of r.doc.failures)
      expect(f.error).toMatch(/stale|ENOENT|no longer a regular file|replaced/);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    // The symlink and the foreign hardlink are untouched.
    expect(lstatSync(t(4)[0]!).isSymbolicLink()).toBe(true);
    expect(lstatSync(t(6)[0]!).ino).toBe(lstatSync(other).ino);
    expect(sources.size).toBe(10);
    expect(strayTemps(tree)).toEqual([]);
  });

  it('a read-only directory fails its actions with EACCES and the path; the run goes on (as nobody)', () => {
    const tree = join(dir, 't');
    writeTree(tree, {
      'a/one.bin': BIG('1'),
      'a/two.bin': BIG('2'),
      'b/one.bin': BIG('1'),
      'c/two.bin': BIG('2'),
    });
    const catDir = join(dir, 'cat');
    mkdirSync(catDir);
    spawnSync('chown', ['-R', '65534:65534', tree, catDir]);
    spawnSync('chmod', ['755', dir]);
    const cat = join(catDir, 'c.db');
    const nobody = { uid: 65534, gid: 65534 };
    expect(hashall(['scan', tree, '--catalog', cat, '-q'], { asUser: nobody }).code).toBe(0);
    expect(
      hashall(['conductor', 'plan', 'ro', '--keep', 'path', '--catalog', cat, '-q'], {
        asUser: nobody,
      }).code,
    ).toBe(0);
    spawnSync('chmod', ['555', join(tree, 'b')]);
    const before = snapshot(tree);
    const r = hashall(['conductor', 'execute', '1', '--force', '--json', '--catalog', cat], {
      asUser: nobody,
    });
    expect(r.code).toBe(1);
    const doc = r.json<ExecJson>();
    expect(doc.executed).toBe(1);
    expect(doc.failed).toBe(1);
    expect(doc.failures[0]!.target).toBe(join(tree, 'b', 'one.bin'));
    expect(doc.failures[0]!.error).toMatch(/EACCES/);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    expect(lstatSync(join(tree, 'c', 'two.bin')).ino).toBe(
      lstatSync(join(tree, 'a', 'two.bin')).ino,
    );
    spawnSync('chmod', ['755', join(tree, 'b')]);
  });

  it('a directory swapped for a symlink to elsewhere: nothing is created, renamed or deleted outside', () => {
    const tree = join(dir, 't');
    writeTree(tree, { 'keep/x.bin': BIG('k'), 'victim/x.bin': BIG('k') });
    const outside = join(dir, 'outside');
    writeTree(outside, { 'x.bin': BIG('o') });
    const cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const plan = json<{ id: number }>(['conductor', 'plan', 'swap', '--keep', 'path'], cat).doc;
    const outsideBefore = snapshot(outside);
    const outsideIno = lstatSync(join(outside, 'x.bin')).ino;
    renameSync(join(tree, 'victim'), join(dir, 'moved-victim'));
    symlinkSync(outside, join(tree, 'victim'));
    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(1);
    expect(r.doc.failed).toBe(1);
    expect(r.doc.failures[0]!.error).toMatch(/no longer a directory/);
    expect(contentDiff(outsideBefore, snapshot(outside))).toEqual([]);
    expect(lstatSync(join(outside, 'x.bin')).ino).toBe(outsideIno);
    expect(readdirSync(outside)).toEqual(['x.bin']);
  });
});

describe('a directory moved away while execute runs', () => {
  let dir: string;
  afterAll(() => removeTree(dir));

  it('its remaining actions fail as stale instead of linking inside it at its new place', async () => {
    dir = tempDir();
    const tree = join(dir, 't');
    makeGroups(tree); // keeps a/gN.bin; the 20 targets are all in b/
    const cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const plan = json<{ id: number }>(['conductor', 'plan', 'moved dir'], cat).doc;
    const child = spawn(
      process.execPath,
      [CLI, 'conductor', 'execute', String(plan.id), '--force', '--json', '--catalog', cat],
      { env: { ...process.env, HASHALL_FAILPOINT_DELAY: 'execute-action=400' } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    await waitForCatalog(
      cat,
      `SELECT count(*) >= 2 AS n FROM conductor_actions WHERE status = 'executed'`,
    );
    renameSync(join(tree, 'b'), join(dir, 'b-moved'));
    const db = new Database(cat, { readonly: true });
    const movedAt = (
      db.prepare(`SELECT count(*) AS n FROM conductor_actions WHERE status = 'executed'`).get() as {
        n: number;
      }
    ).n;
    db.close();
    expect(await done).toBe(1);
    const r = JSON.parse(out) as ExecJson;
    // A cached directory is trusted for at most a second (two or three actions here) before
    // its path is checked again.
    expect(r.executed).toBeLessThanOrEqual(movedAt + 3);
    expect(r.failed).toBe(20 - r.executed);
    expect(r.failures[0]!.target).toMatch(/\/b\//);
    expect(strayTemps(dir)).toEqual([]);
  });
});

function require_content(p: string): Buffer {
  return spawnSync('cat', [p], { maxBuffer: 1 << 26 }).stdout as Buffer;
}

describe('crashes at every step of the replace protocol', () => {
  let dir: string;
  afterAll(() => removeTree(dir));
  const points = ['after-journal', 'after-link', 'before-rename', 'after-rename', 'after-commit'];

  it.each(points)(
    'SIGKILL %s: no path missing, no content changed, the next run recovers',
    (point) => {
      dir ??= tempDir();
      const base = join(dir, point);
      const tree = join(base, 't');
      makeGroups(tree);
      const cat = join(base, 'c.db');
      hashall(['scan', tree, '--catalog', cat, '-q']);
      const plan = json<{ id: number; bytes_saveable: number }>(
        ['conductor', 'plan', 'crash'],
        cat,
      ).doc;
      const before = snapshot(tree);
      // Crash at the 4th action that reaches this step.
      killExecuteAt(cat, plan.id, { point, after: 3 });
      // Every path has its content; the only extra name may be our temporary link.
      expect(
        contentDiff(before, snapshot(tree)).filter((d) => !d.includes('.hashall-tmp-')),
      ).toEqual([]);
      // The catalog is intact.
      const { integrity, journal } = leftBehind(cat);
      expect(integrity).toBe('ok');
      // Intents are journaled per batch: every action of the batch is journaled until the
      // batch's outcomes are committed.
      if (point === 'after-commit') expect(journal).toBe(0);
      else expect(journal).toBeGreaterThanOrEqual(4);
      const temps = strayTemps(tree).length;
      expect(temps).toBe(point === 'after-link' || point === 'before-rename' ? 1 : 0);

      const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
      expect(r.code).toBe(0);
      if (point !== 'after-commit') {
        expect(r.stderr).toMatch(/Recovered an interrupted run/);
        // Each journaled action is rolled forward if its rename happened (the three before
        // the crash, and the fourth when killed after its rename), back otherwise.
        expect(r.doc.recovery!.rolled_forward + r.doc.recovery!.rolled_back).toBe(journal);
        expect(r.doc.recovery!.rolled_forward).toBe(point === 'after-rename' ? 4 : 3);
      }
      expect(r.doc.status).toBe('executed');
      // The plan's total; this run freed only what it replaced itself (recovery excluded).
      expect(r.doc.plan_bytes_saved).toBe(plan.bytes_saveable);
      expect(r.doc.bytes_saved).toBeLessThan(plan.bytes_saveable);
      const after = snapshot(tree);
      expect(contentDiff(before, after)).toEqual([]);
      expect(inodeBytes(before) - inodeBytes(after)).toBe(plan.bytes_saveable);
      expect(strayTemps(tree)).toEqual([]);
    },
  );

  it('SIGKILL in a later batch: the earlier batches, linked but not yet recorded, roll forward', () => {
    // 300 actions: more than one batch of 256, and outcomes are recorded for several batches
    // at once, so the kill finds the whole first batch linked with its outcomes unrecorded.
    dir ??= tempDir();
    const base = join(dir, 'later-batch');
    const tree = join(base, 't');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 300; i++) {
      const content = Buffer.from(`file ${i} `.repeat(40 + (i % 7)));
      files[`a/${i % 9}/f${i}.bin`] = content;
      files[`b/${i % 11}/f${i}.bin`] = content;
    }
    writeTree(tree, files);
    const cat = join(base, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const plan = json<{ id: number; bytes_saveable: number; actions: { HARDLINK: number } }>(
      ['conductor', 'plan', 'crash'],
      cat,
    ).doc;
    expect(plan.actions.HARDLINK).toBe(300);
    const before = snapshot(tree);
    killExecuteAt(cat, plan.id, { point: 'after-link', after: 279 });
    expect(contentDiff(before, snapshot(tree)).filter((d) => !d.includes('.hashall-tmp-'))).toEqual(
      [],
    );
    expect(strayTemps(tree)).toHaveLength(1);
    const { journal } = leftBehind(cat);
    // Normally all 300 (outcomes are recorded at least every 2 s, so a slow run may have
    // recorded the first batch): at least the second batch, all of it journaled.
    expect(journal).toBeGreaterThanOrEqual(300 - 256);

    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    expect(r.doc.recovery).toEqual({
      rolled_forward: journal - 21,
      rolled_back: 21,
      temp_links_removed: 1,
    });
    expect(r.doc).toMatchObject({ executed: 21, failed: 0, status: 'executed' });
    expect(r.doc.plan_bytes_saved).toBe(plan.bytes_saveable);
    expect(r.doc.bytes_saved).toBeLessThan(plan.bytes_saveable);
    const after = snapshot(tree);
    expect(contentDiff(before, after)).toEqual([]);
    expect(inodeBytes(before) - inodeBytes(after)).toBe(plan.bytes_saveable);
    expect(strayTemps(tree)).toEqual([]);
    // Recovery recorded the catalog rows of the rolled-forward paths: a rescan finds them right.
    const s = json<{ changed: number; new: number; deleted: number }>(['scan', tree], cat).doc;
    expect(s.changed + s.new + s.deleted).toBe(0);
  });

  it('a scan after a crash recovers too', () => {
    dir ??= tempDir();
    const base = join(dir, 'scan-recovers');
    const tree = join(base, 't');
    makeGroups(tree);
    const cat = join(base, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const plan = json<{ id: number }>(['conductor', 'plan', 'crash'], cat).doc;
    killExecuteAt(cat, plan.id, { point: 'after-link' });
    expect(strayTemps(tree)).toHaveLength(1);
    const s = hashall(['scan', tree, '--catalog', cat, '--json']);
    expect(s.code).toBe(0);
    expect(s.stderr).toMatch(
      /Recovered an interrupted execute: 0 actions completed, \d+ rolled back, 1 temporary link removed/,
    );
    expect(strayTemps(tree)).toEqual([]);
    const p = json<{ plans: { status: string }[] }>(['conductor', 'plans'], cat).doc;
    expect(p.plans[0]!.status).toBe('interrupted');
  });
});

describe('interrupting and locking', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeTree(dir));

  it('Ctrl-C stops after the current action, exits 130, and the plan resumes', async () => {
    const tree = join(dir, 't');
    makeGroups(tree);
    const cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const plan = json<{ id: number; bytes_saveable: number }>(
      ['conductor', 'plan', 'ctrl-c'],
      cat,
    ).doc;
    const before = snapshot(tree);
    const child = spawn(
      process.execPath,
      [CLI, 'conductor', 'execute', String(plan.id), '--force', '--json', '--catalog', cat],
      {
        env: { ...process.env, HASHALL_FAILPOINT_DELAY: 'execute-action=100' },
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitForCatalog(
      cat,
      `SELECT count(*) AS n FROM conductor_actions WHERE status = 'executed'`,
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    const first = JSON.parse(out) as ExecJson;
    expect(first.interrupted).toBe(true);
    expect(first.status).toBe('interrupted');
    expect(first.executed).toBeGreaterThan(0);
    expect(first.executed).toBeLessThan(20);
    expect(contentDiff(before, snapshot(tree))).toEqual([]);
    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    expect(r.doc.executed).toBe(20 - first.executed);
    expect(r.doc.plan_bytes_saved).toBe(plan.bytes_saveable);
    expect(r.doc.bytes_saved).toBe(plan.bytes_saveable - first.bytes_saved);
  });

  it('a second executor is refused naming the holder; a dead holder is replaced', () => {
    const tree = join(dir, 't');
    makeGroups(tree);
    const cat = join(dir, 'c.db');
    hashall(['scan', tree, '--catalog', cat, '-q']);
    const plan = json<{ id: number }>(['conductor', 'plan', 'lock'], cat).doc;
    // A live holder: this test process itself.
    const db = new Database(cat);
    const { hostname } = require_os();
    db.prepare(
      // A lock on every device (the plan's among them): the executor lock is per device.
      'INSERT INTO executor_device_lock (device_id, pid, start_time, hostname, plan_id, acquired_at) SELECT id, ?, ?, ?, ?, ? FROM devices',
    ).run(process.pid, processStartTime(process.pid), hostname, plan.id, Date.now());
    db.close();
    const refused = hashall(['conductor', 'execute', String(plan.id), '--force', '--catalog', cat]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      new RegExp(
        `another hashall execute holds this device: device \\d+ is being executed by pid ${process.pid} on host `,
      ),
    );
    // A dead holder (same pid, another start time: the process is gone) does not block.
    const db2 = new Database(cat);
    db2.prepare('UPDATE executor_device_lock SET start_time = ?').run('1');
    db2.close();
    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    expect(r.doc.executed).toBe(20);
  });
});

function require_os(): { hostname: string } {
  return { hostname: spawnSync('hostname', { encoding: 'utf8' }).stdout.trim() || 'localhost' };
}

describe('cross-device duplicates on real filesystems', () => {
  let dir: string;
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('are reported and recorded as SKIP cross-device, never linked', (ctx) => {
    requireMounts(ctx);
    dir = tempDir();
    const a = join(dir, 'pool');
    const b = join(dir, 'stash');
    mountTmpfs(a);
    mountImage(join(dir, 'stash.ext4'), b, 'ext4');
    mkdirSync(join(a, 'archive'));
    mkdirSync(join(b, 'archive'));
    writeFileSync(join(a, 'archive', 'file.mp4'), BIG('m'));
    writeFileSync(join(b, 'archive', 'file.mp4'), BIG('m'));
    writeFileSync(join(b, 'archive', 'again.mp4'), BIG('m'));
    const cat = join(dir, 'c.db');
    hashall(['scan', a, '--catalog', cat, '-q']);
    hashall(['scan', b, '--catalog', cat, '-q']);
    const an = json<{ cross_device: { groups: number; bytes: number } }>(
      ['conductor', 'analyze', '--cross-device'],
      cat,
    ).doc;
    expect(an.cross_device).toMatchObject({ groups: 1, bytes: 20_000 });
    const human = hashall(['conductor', 'analyze', '--cross-device', '--catalog', cat]);
    expect(human.stdout).toMatch(
      /\nCross-device duplicate files:\n {2}[0-9a-f]{12}\.\.\. - 20\.0 KB × 3 copies across 2 devices/,
    );
    const plan = json<{ id: number; actions: Record<string, number> }>(
      ['conductor', 'plan', 'Cross-device audit', '--cross-device', '--same-device=false'],
      cat,
    ).doc;
    expect(plan.actions).toMatchObject({ HARDLINK: 0, NOOP: 0, SKIP: 2 });
    const show = json<{ actions: { type: string; reason: string }[] }>(
      ['conductor', 'show-plan', String(plan.id)],
      cat,
    ).doc;
    expect(show.actions.every((x) => x.type === 'SKIP' && x.reason === 'cross-device')).toBe(true);
    const inos = [
      lstatSync(join(a, 'archive', 'file.mp4')).ino,
      lstatSync(join(b, 'archive', 'file.mp4')).ino,
    ];
    const r = json<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
    expect(r.code).toBe(0);
    expect(r.doc.executed).toBe(0);
    expect([
      lstatSync(join(a, 'archive', 'file.mp4')).ino,
      lstatSync(join(b, 'archive', 'file.mp4')).ino,
    ]).toEqual(inos);
    // The same-device pair on the ext4 image is linked by a normal plan; nothing crosses.
    const same = json<{ id: number; actions: Record<string, number> }>(
      ['conductor', 'plan', 'same', '--cross-device'],
      cat,
    ).doc;
    expect(same.actions.HARDLINK).toBe(1);
    expect(
      json<ExecJson>(['conductor', 'execute', String(same.id), '--force'], cat).doc.executed,
    ).toBe(1);
    expect(lstatSync(join(b, 'archive', 'file.mp4')).ino).toBe(
      lstatSync(join(b, 'archive', 'again.mp4')).ino,
    );
    expect(lstatSync(join(a, 'archive', 'file.mp4')).ino).toBe(inos[0]);
    rmSync(join(dir, 'stash.ext4'), { force: true });
  });
});
