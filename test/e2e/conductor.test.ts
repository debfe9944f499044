/**
 * The conductor end to end on real trees: the guide's workflow, content preservation, freed
 * bytes measured on disk, hostile names, permission mismatches, idempotence, and a peer
 * (jdupes) as an oracle for the groups.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readCatalog } from '../helpers/catalog.js';
import { CLI_BACKENDS, catalogContents, type CliBackend } from '../helpers/cli-backends.js';
import { hashall } from '../helpers/cli.js';
import { mktree, removeTree, tempDir, writeTree, type MktreeSummary } from '../helpers/fs.js';
import { contentDiff, inodeBytes, snapshot, type Snapshot } from '../helpers/snapshot.js';

interface PlanJson {
  id: number;
  opportunities: number;
  bytes_saveable: number;
  actions: Record<string, number>;
}
interface ExecJson {
  plan_id: number;
  dry_run: boolean;
  executed: number;
  noop: number;
  failed: number;
  skipped: number;
  bytes_saved: number;
  would_link: number;
  status: string;
  log: string | null;
  failures: { target: string; error: string }[];
}
interface ShowJson {
  status: string;
  actions: {
    type: string;
    source: string;
    source_b64?: string;
    target: string;
    target_b64?: string;
    bytes: number;
    status: string;
    reason: string | null;
  }[];
}

const fileSha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

function ok<T>(args: string[], cat: string): T {
  const r = hashall([...args, '--catalog', cat, '--json']);
  if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.json<T>();
}

/**
 * Everything but the schema-7 upgrade runs on both backends (SQLite and PostgreSQL): the same
 * trees, the same commands, the same figures.
 */
describe.each(CLI_BACKENDS)('the conductor on $name', (b: CliBackend) => {
  beforeAll(async () => {
    if (!b.unavailable) await b.setup();
  });
  afterAll(() => b.teardown());
  /** Where execute writes its run log: beside a catalog file; a shared catalog logs in ~. */
  const logDir = (dir: string) =>
    b.name === 'SQLite' ? join(dir, 'logs') : join(homedir(), '.hashall', 'logs');

  describe.skipIf(b.unavailable !== undefined)('the guide workflow on a mktree tree', () => {
    let dir: string;
    let tree: string;
    let cat: string;
    let gen: MktreeSummary;
    let before: Snapshot;
    let plan: PlanJson;

    beforeAll(async () => {
      dir = tempDir();
      tree = join(dir, 'tree');
      cat = await b.catalog(dir);
      gen = mktree(tree, ['--files', '3000', '--total-mb', '80', '--seed', '11']);
      ok(['scan', tree], cat);
      before = snapshot(tree);
    });
    afterAll(() => removeTree(dir));

    it('analyze and plan find exactly the savings the generator computed', () => {
      const a = ok<{ same_device: { groups: number; bytes_saveable: number }; pending: number }>(
        ['conductor', 'analyze', '--device', tree],
        cat,
      );
      expect(a.same_device.bytes_saveable).toBe(gen.hardlink_dedupe_saving_bytes);
      expect(a.same_device.groups).toBe(gen.dup_groups_by_inode);
      expect(a.pending).toBe(0);
      plan = ok<PlanJson>(['conductor', 'plan', 'Monthly dedupe', '--device', tree], cat);
      expect(plan.bytes_saveable).toBe(gen.hardlink_dedupe_saving_bytes);
      expect(plan.opportunities).toBe(gen.redundant_inodes);
      expect(plan.actions.SKIP).toBe(0);
      // Existing hardlinks are recognised, never re-linked.
      expect(plan.actions.NOOP).toBeGreaterThan(0);
    });

    it('show-plan lists actions in the guide layout and as JSON', () => {
      const r = hashall(['conductor', 'show-plan', String(plan.id), '--catalog', cat]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`║ CONDUCTOR PLAN #${plan.id}: Monthly dedupe`);
      expect(r.stdout).toMatch(/Status: pending/);
      expect(r.stdout).toMatch(
        / 1\. HARDLINK +[\d,]+ bytes\n {4}[0-9a-f]{12}\.\.\.\n {4}\/.*\n {6}← \//,
      );
      const j = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
      expect(j.actions.filter((a) => a.type === 'HARDLINK').length).toBe(plan.actions.HARDLINK);
      expect(j.actions.reduce((s, a) => s + a.bytes, 0)).toBe(gen.hardlink_dedupe_saving_bytes);
    });

    it('--dry-run changes nothing, not even the catalog, and says what would happen', async () => {
      const catBefore = b.name === 'SQLite' ? fileSha(cat) : await catalogContents(b, cat);
      const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--dry-run'], cat);
      expect(e.dry_run).toBe(true);
      expect(e.would_link).toBe(plan.actions.HARDLINK);
      expect(e.failed).toBe(0);
      expect(e.log).toBeNull();
      expect(b.name === 'SQLite' ? fileSha(cat) : await catalogContents(b, cat)).toBe(catBefore);
      const now = snapshot(tree);
      expect(contentDiff(before, now)).toEqual([]);
      expect([...now.values()].map((x) => x.ino)).toEqual([...before.values()].map((x) => x.ino));
    });

    it('refuses to execute without --force when not on a terminal', () => {
      const r = hashall(['conductor', 'execute', String(plan.id), '--catalog', cat]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--force/);
      expect(contentDiff(before, snapshot(tree))).toEqual([]);
    });

    it('execute --force keeps every path with its content and frees exactly the planned bytes', () => {
      const r = hashall([
        'conductor',
        'execute',
        String(plan.id),
        '--force',
        '--verbose',
        '--catalog',
        cat,
      ]);
      expect(r.code).toBe(0);
      // Not a terminal: plain words, no emoji.
      expect(r.stdout).toMatch(/^EXECUTING Plan #\d+: Monthly dedupe/);
      expect(r.stdout).toMatch(/HARDLINK: .*\n {2}← .*\n {2}Saves: [\d,]+ bytes\n {2}ok\n/);
      const logPath = /See (.*\.log) for details/.exec(r.stdout)?.[1];
      expect(logPath && existsSync(logPath)).toBe(true);
      expect(statSync(logPath!).mode & 0o777).toBe(0o600);
      expect(logPath!.startsWith(logDir(dir))).toBe(true);
      const after = snapshot(tree);
      expect(contentDiff(before, after)).toEqual([]);
      expect(inodeBytes(before) - inodeBytes(after)).toBe(gen.hardlink_dedupe_saving_bytes);
      expect(readFileSync(logPath!, 'utf8')).toMatch(/HARDLINK #\d+ executed/);
      const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id)], cat);
      expect(show.status).toBe('executed');
    });

    it('re-running execute touches nothing; a rescan reads nothing and analyze shows the savings gone', () => {
      const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
      expect(e.executed).toBe(0);
      expect(e.failed).toBe(0);
      expect(e.noop).toBeGreaterThanOrEqual(plan.actions.HARDLINK!);
      const s = ok<{ changed: number; new: number; hashed_files: number; deleted: number }>(
        ['scan', tree],
        cat,
      );
      expect(s.changed + s.new + s.deleted).toBe(0);
      expect(s.hashed_files).toBe(0);
      const a = ok<{ same_device: { bytes_saveable: number } }>(['conductor', 'analyze'], cat);
      expect(a.same_device.bytes_saveable).toBe(0);
      const st = ok<{ hardlinks: { bytes_saved: number }; bytes_saveable: number }>(
        ['conductor', 'status'],
        cat,
      );
      expect(st.bytes_saveable).toBe(0);
      expect(st.hardlinks.bytes_saved).toBeGreaterThanOrEqual(gen.hardlink_dedupe_saving_bytes);
    });

    it('plans lists the plan with its final status', () => {
      const p = ok<{ plans: { id: number; status: string; name: string }[] }>(
        ['conductor', 'plans'],
        cat,
      );
      expect(p.plans.find((x) => x.id === plan.id)).toMatchObject({
        status: 'executed',
        name: 'Monthly dedupe',
      });
    });
  });

  describe.skipIf(b.unavailable !== undefined)(
    'hostile names and permission mismatches (mktree --tricky)',
    () => {
      let dir: string;
      let tree: string;
      let cat: string;

      beforeAll(async () => {
        dir = tempDir();
        tree = join(dir, 'tree');
        cat = await b.catalog(dir);
        mktree(tree, ['--files', '1500', '--total-mb', '40', '--seed', '13', '--tricky']);
        ok(['scan', tree], cat);
      });
      afterAll(() => removeTree(dir));

      it('links non-UTF-8, newline and deep names correctly and never joins different owners or modes', () => {
        const before = snapshot(tree);
        const plan = ok<PlanJson>(['conductor', 'plan', 'tricky'], cat);
        const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
        const mismatched = show.actions.filter((a) => a.type === 'SKIP');
        expect(mismatched.length).toBeGreaterThan(0);
        expect(mismatched.every((a) => /owner\/group\/mode differ/.test(a.reason ?? ''))).toBe(
          true,
        );
        // Non-UTF-8 names travel losslessly through the JSON.
        expect(
          show.actions.some((a) => a.target_b64 !== undefined || a.source_b64 !== undefined),
        ).toBe(true);
        const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
        expect(e.failed).toBe(0);
        const after = snapshot(tree);
        expect(contentDiff(before, after)).toEqual([]);
        expect(inodeBytes(before) - inodeBytes(after)).toBe(e.bytes_saved);
        expect(e.bytes_saved).toBe(plan.bytes_saveable);
        // Every group of identical content that hashall linked shares one owner and mode.
        const byIno = new Map<number, Set<string>>();
        for (const x of after.values()) {
          const k = byIno.get(x.ino) ?? new Set();
          k.add(`${x.mode}:${x.uid}`);
          byIno.set(x.ino, k);
        }
        for (const classes of byIno.values()) expect(classes.size).toBe(1);
        // The hostile groups were linked: names with newlines and non-UTF-8 bytes share inodes.
        const tricky = [...after.values()].filter(
          (x) => x.path.includes(0x0a) || x.path.includes(0xe9),
        );
        expect(tricky.length).toBeGreaterThan(2);
        const linked = tricky.filter((x) =>
          [...after.values()].some((y) => y !== x && y.ino === x.ino),
        );
        expect(linked.length).toBeGreaterThan(0);
      });
    },
  );

  describe.skipIf(b.unavailable !== undefined)('jdupes as an oracle', () => {
    let dir: string;
    afterAll(() => removeTree(dir));

    it('hashall plans the same groups (as inode sets) that jdupes -r finds', async () => {
      dir = tempDir();
      const tree = join(dir, 'tree');
      const cat = await b.catalog(dir);
      mktree(tree, ['--files', '2000', '--total-mb', '40', '--seed', '17']);
      ok(['scan', tree], cat);
      const plan = ok<PlanJson>(['conductor', 'plan', 'oracle'], cat);
      const show = ok<ShowJson>(['conductor', 'show-plan', String(plan.id), '--limit', '0'], cat);
      const ino = (p: string) => lstatSync(p).ino;
      const ours = new Map<string, Set<number>>();
      for (const a of show.actions.filter((x) => x.type === 'HARDLINK')) {
        const set = ours.get(a.source) ?? new Set([ino(a.source)]);
        set.add(ino(a.target));
        ours.set(a.source, set);
      }
      const key = (s: Set<number>) => [...s].sort((x, y) => x - y).join(',');
      const out = execFileSync('jdupes', ['-r', '-q', tree], {
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      const theirs = out
        .split('\n\n')
        .map((g) => g.split('\n').filter(Boolean))
        .filter((g) => g.length > 1)
        .map((g) => new Set(g.map(ino)))
        .filter((s) => s.size > 1);
      expect(new Set([...ours.values()].map(key))).toEqual(new Set(theirs.map(key)));
    });
  });

  describe.skipIf(b.unavailable !== undefined)('workflow 3: verify existing hardlinks', () => {
    let dir: string;
    afterAll(() => removeTree(dir));

    it('a tree of hardlinks plans only NOOPs, and show-plan | grep NOOP lists them', async () => {
      dir = tempDir();
      const tree = join(dir, 'data');
      mkdirSync(join(tree, 'torrents'), { recursive: true });
      mkdirSync(join(tree, 'seeding'));
      writeFileSync(join(tree, 'torrents', 'movie.mkv'), Buffer.alloc(50_000, 'm'));
      linkSync(join(tree, 'torrents', 'movie.mkv'), join(tree, 'seeding', 'movie.mkv'));
      writeFileSync(join(tree, 'unique.txt'), 'alone');
      const cat = await b.catalog(dir);
      ok(['scan', tree], cat);
      const plan = ok<PlanJson>(['conductor', 'plan', 'Verify hardlinks', '--device', tree], cat);
      expect(plan.actions).toMatchObject({ HARDLINK: 0, NOOP: 1, SKIP: 0 });
      const show = hashall(['conductor', 'show-plan', String(plan.id), '--catalog', cat]);
      const noop = show.stdout.split('\n').filter((l) => l.includes('NOOP'));
      expect(noop).toHaveLength(2); // the counts line and the action
      expect(show.stdout).toMatch(
        /1\. NOOP\s*\n.*\n.*\n {6}← .*torrents\/movie\.mkv|1\. NOOP\s*\n.*\n.*\n {6}← .*seeding\/movie\.mkv/,
      );
      const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
      expect(e).toMatchObject({ executed: 0, noop: 1, failed: 0 });
    });
  });
});

describe('plans made before the catalog recorded target rows (schema 7)', () => {
  let dir: string;
  afterAll(() => removeTree(dir));

  /** Every active catalog row matches its path on disk (inode, link count, ctime). */
  function catalogMatchesDisk(tree: string, name: string, cat: string): void {
    const rows = readCatalog(cat, (db) =>
      db
        .prepare(`SELECT path, inode, nlink, ctime_ns FROM file_paths WHERE status = 'active'`)
        .safeIntegers(true)
        .all(),
    ) as { path: Buffer; inode: bigint; nlink: bigint; ctime_ns: bigint }[];
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      // Catalog paths are inside the filesystem: take the part below the tree.
      const rel = r.path.toString('utf8').split(`/${name}/`).pop()!;
      const st = lstatSync(join(tree, rel), { bigint: true });
      expect([r.path.toString('utf8'), r.inode, r.nlink, r.ctime_ns]).toEqual([
        r.path.toString('utf8'),
        st.ino,
        st.nlink,
        st.ctimeNs,
      ]);
    }
  }

  it('a new plan records each target row; an old one (no row ids) executes by path lookup', () => {
    dir = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) {
      const body = `content ${i} `.repeat(500 + i);
      files[`a/${i}.dat`] = body;
      files[`b/${i}.dat`] = body; // same name, other directory: the row id must not be confused
      files[`c/d/copy-${i}.dat`] = body;
    }
    for (const [name, id] of [['old', 0] as const, ['new', 1] as const]) {
      const tree = join(dir, name);
      writeTree(tree, files);
      const cat = join(dir, `${name}.db`);
      ok(['scan', tree], cat);
      const plan = ok<PlanJson>(['conductor', 'plan', name], cat);
      expect(plan.actions.HARDLINK).toBe(12);
      const ids = readCatalog(cat, (db) =>
        db
          .prepare(
            `SELECT a.target_file_id AS id, f.id AS row FROM conductor_actions a
               JOIN file_paths f ON f.device_id = a.device_id AND f.path = a.target_path
              WHERE a.plan_id = ? AND a.action_type = 'HARDLINK'`,
          )
          .all(plan.id),
      ) as { id: number | null; row: number }[];
      expect(ids).toHaveLength(12);
      for (const r of ids) expect(r.id).toBe(r.row);
      if (id === 0) {
        // What a hashall before migration 8 left: no target_file_id column, schema version 7
        // (and nothing of the later migrations: scope's table, undo's columns and journal).
        const db = new Database(cat);
        db.exec('ALTER TABLE conductor_actions DROP COLUMN target_file_id');
        db.exec('DROP TABLE conductor_plan_scope');
        for (const c of [
          'orig_uid',
          'orig_gid',
          'orig_mode',
          'orig_atime_ns',
          'orig_mtime_ns',
          'undo_status',
          'undo_error',
        ])
          db.exec(`ALTER TABLE conductor_actions DROP COLUMN ${c}`);
        db.exec('ALTER TABLE conductor_plans DROP COLUMN undo_status');
        db.exec('DROP TABLE conductor_undo_journal');
        // ... nor anything of the migrations after 11 (each table, trigger and column).
        for (const t of [
          'files_forget_listing_fp',
          'files_forget_listing_fp_on_delete',
          'files_group_insert',
          'files_group_delete',
          'files_group_update',
          'files_usage_insert',
          'files_usage_delete',
          'files_usage_update',
        ])
          db.exec(`DROP TRIGGER ${t}`);
        db.exec('ALTER TABLE dirs DROP COLUMN listing_fp');
        for (const t of [
          'executor_device_lock',
          'group_totals',
          'group_dirty',
          'usage_totals',
          'usage_dirty',
          'scan_hosts',
          'device_mounts',
        ])
          db.exec(`DROP TABLE ${t}`);
        db.pragma('user_version = 7');
        db.close();
      }
      const e = ok<ExecJson>(['conductor', 'execute', String(plan.id), '--force'], cat);
      expect(e).toMatchObject({ executed: 12, failed: 0, status: 'executed' });
      if (id === 0) {
        const v = readCatalog(cat, (db) => ({
          version: db.pragma('user_version', { simple: true }),
          nulls: (
            db
              .prepare(
                'SELECT count(*) AS n FROM conductor_actions WHERE plan_id = ? AND target_file_id IS NULL',
              )
              .get(plan.id) as { n: number }
          ).n,
        }));
        expect(v.version).toBeGreaterThanOrEqual(8);
        expect(v.nulls).toBe(12);
      }
      // The replaced rows took the kept inode: the catalog agrees with the disk, a rescan too.
      catalogMatchesDisk(tree, name, cat);
      const s = ok<{ changed: number; new: number; deleted: number }>(['scan', tree], cat);
      expect(s.changed + s.new + s.deleted).toBe(0);
    }
  });
});
