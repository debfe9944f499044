/**
 * `conductor analyze --rescan`: the recorded roots in question are rescanned first, in the same
 * process, and the analysis is of the tree as it is now. Real trees, the real CLI.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall } from '../helpers/cli.js';
import { readCatalog } from '../helpers/catalog.js';
import { killAt } from '../helpers/kill-at.js';
import {
  mktree,
  mountTmpfs,
  removeTree,
  requireMounts,
  tempDir,
  unmount,
  unmountAll,
  writeTree,
} from '../helpers/fs.js';

interface ScanPart {
  roots: { root: string }[];
  files: number;
  new: number;
  changed: number;
  deleted: number;
  interrupted: boolean;
  errors: { path: string; error: string }[];
}

interface AnalyzeJson {
  same_device: { groups: number; bytes_saveable: number; source: { kind: string } | null };
  rescan: ScanPart | null;
}

const dirs: string[] = [];
afterAll(() => {
  unmountAll();
  for (const d of dirs) removeTree(d);
});

function fresh(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

const analyze = (cat: string, args: string[], opts: Parameters<typeof hashall>[1] = {}) =>
  hashall(['conductor', 'analyze', ...args, '--catalog', cat], opts);

describe('conductor analyze --rescan', () => {
  it('analyzes the tree as it is now, in one command; the catalog keeps what it read', () => {
    const dir = fresh();
    const tree = join(dir, 'tree');
    const sum = mktree(tree, ['--seed', '5', '--files', '300', '--total-mb', '3']);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);

    // Unchanged: the rescan reads every file, records nothing, and the figure is mktree's.
    const same = analyze(cat, ['--rescan', '--json']);
    expect(same.code).toBe(0);
    const a = same.json<AnalyzeJson>();
    expect(a.rescan).toMatchObject({ files: sum.regular_file_paths, new: 0, changed: 0 });
    expect(a.rescan!.roots.map((r) => r.root)).toEqual([realpathSync(tree)]);
    expect(a.same_device.bytes_saveable).toBe(sum.hardlink_dedupe_saving_bytes);
    expect(a.same_device.groups).toBe(sum.dup_groups_by_inode);

    // A copy made since: a plain analyze cannot know it, --rescan does, and then so does the
    // catalog (a plain analyze after it agrees).
    writeFileSync(join(tree, 'big.bin'), Buffer.alloc(70_000, 7));
    copyFileSync(join(tree, 'big.bin'), join(tree, 'big copy.bin'));
    const blind = analyze(cat, ['--json']).json<AnalyzeJson>();
    expect(blind.rescan).toBeNull();
    expect(blind.same_device.bytes_saveable).toBe(sum.hardlink_dedupe_saving_bytes);
    const seen = analyze(cat, ['--rescan', '--json']);
    expect(seen.code).toBe(0);
    const s = seen.json<AnalyzeJson>();
    expect(s.rescan).toMatchObject({ files: sum.regular_file_paths + 2, new: 2 });
    expect(s.same_device.bytes_saveable).toBe(sum.hardlink_dedupe_saving_bytes + 70_000);
    expect(s.same_device.groups).toBe(sum.dup_groups_by_inode + 1);
    const after = analyze(cat, ['--json']).json<AnalyzeJson>();
    expect(after.same_device.bytes_saveable).toBe(s.same_device.bytes_saveable);

    // The human form says what was rescanned before the analysis.
    const text = analyze(cat, ['--rescan']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(`^Rescanned ${realpathSync(tree)}: ${sum.regular_file_paths + 2} files, 0 new`),
    );
    expect(text.stdout).toMatch(/Same-device deduplication opportunities/);
  });

  it('after a rescan killed mid-walk, says so and completes it, as scan does', () => {
    const dir = fresh();
    const tree = join(dir, 'tree');
    const sum = mktree(tree, ['--seed', '8', '--files', '400', '--total-mb', '4']);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    killAt(['conductor', 'analyze', '--rescan', '--catalog', cat, '-q'], {
      point: 'scan-walk-commit',
      after: 3,
      env: { HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
    });
    const r = analyze(cat, ['--rescan', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/earlier scan of .* was killed before it finished/);
    const j = r.json<AnalyzeJson & { rescan: { recovered_scans: unknown[] } }>();
    expect(j.rescan.recovered_scans).toHaveLength(1);
    expect(j.same_device.bytes_saveable).toBe(sum.hardlink_dedupe_saving_bytes);
  });

  it('with a scope, rescans only what of the recorded roots lies in it', () => {
    const dir = fresh();
    const tree = join(dir, 'tree');
    writeTree(tree, {
      'in/a.txt': 'inside',
      'in/sub/b.txt': 'inside b',
      'out/c.txt': 'outside',
      'out/d.txt': 'outside d',
      'out/e.txt': 'outside e',
    });
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    copyFileSync(join(tree, 'in/a.txt'), join(tree, 'in/a copy.txt'));
    copyFileSync(join(tree, 'out/c.txt'), join(tree, 'out/c copy.txt'));

    for (const args of [[join(tree, 'in')], ['--device', join(tree, 'in')]]) {
      const r = analyze(cat, [...args, '--rescan', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const j = r.json<AnalyzeJson>();
      // in/ alone: its two files and the new copy; out/'s copy is not seen yet.
      expect(j.rescan).toMatchObject({ files: 3, deleted: 0 });
      expect(j.rescan!.roots.map((x) => x.root)).toEqual([realpathSync(join(tree, 'in'))]);
      expect(j.same_device).toMatchObject({ groups: 1, bytes_saveable: 'inside'.length });
    }
    // Nothing outside the scope was rescanned: the whole tree's analyze does not know out/'s copy.
    expect(analyze(cat, ['--json']).json<AnalyzeJson>().same_device.groups).toBe(1);
    const whole = analyze(cat, ['--rescan', '--json']).json<AnalyzeJson>();
    expect(whole.rescan).toMatchObject({ files: 7, new: 1 });
    expect(whole.same_device.groups).toBe(2);
  });

  it('refuses scan options without --rescan, and says when no recorded root is reachable', () => {
    const dir = fresh();
    const tree = join(dir, 'tree');
    writeTree(tree, { 'a.txt': 'a', 'b.txt': 'a' });
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    for (const opt of [['--scan-exclude', '*.txt'], ['-x']]) {
      const r = analyze(cat, opt);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /^hashall: error: --scan-exclude and --one-file-system apply to --rescan; add --rescan/,
      );
    }
    // --scan-exclude reaches the scan: the excluded new pair is not looked at (and, as with
    // scan --exclude, the rows of excluded entries would be kept).
    writeTree(tree, { 'c.txt': 'a', 'd1.txt': 'dd', 'd2.txt': 'dd' });
    const ex = analyze(cat, ['--rescan', '--scan-exclude', 'd*', '--json']);
    expect(ex.code).toBe(0);
    expect(ex.json<AnalyzeJson>()).toMatchObject({
      rescan: { files: 3, new: 1 },
      same_device: { groups: 1 },
    });
    const all = analyze(cat, ['--rescan', '--json']).json<AnalyzeJson>();
    expect(all).toMatchObject({ rescan: { files: 5, new: 2 }, same_device: { groups: 2 } });

    rmSync(tree, { recursive: true });
    const gone = analyze(cat, ['--rescan']);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(
      `warning: scan root ${realpathSync(dir)}/tree is gone or not mounted; skipped`,
    );
    expect(gone.stderr).toMatch(
      /hashall: error: --rescan: nothing to rescan \(1 recorded root is gone or not mounted\); scan with 'hashall scan PATH', or leave --rescan out/,
    );
    expect(gone.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // Without --rescan the catalog is analyzed as it is.
    expect(analyze(cat, ['--json']).code).toBe(0);
    // A new catalog has nothing recorded.
    const empty = analyze(join(dir, 'empty.db'), ['--rescan']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--rescan: nothing to rescan \(the catalog holds no scan yet\)/);
  });

  it('rescans the filesystems this host mounts and names the others', (ctx) => {
    requireMounts(ctx);
    const dir = fresh();
    const here = join(dir, 'here');
    writeTree(here, { 'a.txt': 'same', 'b.txt': 'other' });
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    mountTmpfs(mnt, 4);
    writeTree(join(mnt, 'data'), { 'x.txt': 'tmpfs', 'y.txt': 'tmpfs' });
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', here, join(mnt, 'data'), '--catalog', cat, '-q']).code).toBe(0);
    // A filesystem only ever scanned as part of another (the tmpfs inside dir/) has no root of
    // its own to rescan.
    const whole = join(dir, 'whole.db');
    expect(hashall(['scan', dir, '--catalog', whole, '-q', '--exclude', '*.db*']).code).toBe(0);
    const inner = analyze(whole, ['--device', mnt, '--rescan']);
    expect(inner.code).toBe(2);
    expect(inner.stderr).toMatch(
      /--rescan: nothing to rescan on \S+ \(no scan started there: it was only ever scanned as part of another filesystem\)/,
    );
    unmount(mnt);
    copyFileSync(join(here, 'a.txt'), join(here, 'a copy.txt'));
    const r = analyze(cat, ['--rescan', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `hashall: note: \\S+ \\(${realpathSync(mnt)}\\) is not mounted on this host; not rescanned`,
      ),
    );
    const j = r.json<AnalyzeJson>();
    expect(j.rescan).toMatchObject({ files: 3, new: 1 });
    // The tmpfs's pair keeps its rows: both groups are there.
    expect(j.same_device.groups).toBe(2);
  });

  it('a scan error is reported and the exit is 1, with the analysis', () => {
    const dir = fresh();
    chmodSync(dir, 0o755);
    const tree = join(dir, 'tree');
    writeTree(tree, { 'open/a.txt': 'same', 'open/b.txt': 'same', 'locked/c.txt': 'c' });
    const catDir = join(dir, 'cat');
    mkdirSync(catDir);
    const cat = join(catDir, 'c.db');
    for (const p of [tree, join(tree, 'open'), join(tree, 'locked'), catDir])
      chownSync(p, 65534, 65534);
    const nobody = { asUser: { uid: 65534, gid: 65534 } };
    expect(hashall(['scan', tree, '--catalog', cat, '-q'], nobody).code).toBe(0);
    chmodSync(join(tree, 'locked'), 0o000);
    try {
      const r = analyze(cat, ['--rescan', '--json'], nobody);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/warning: .*locked: EACCES/);
      const j = r.json<AnalyzeJson>();
      expect(j.rescan!.errors).toHaveLength(1);
      expect(j.same_device.groups).toBe(1);
    } finally {
      chmodSync(join(tree, 'locked'), 0o755);
    }
  });

  it('Ctrl-C during the rescan keeps what it read and analyzes nothing (exit 130)', async () => {
    const dir = fresh();
    const tree = join(dir, 'tree');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`d${String(i).padStart(3, '0')}/f.txt`] = `file ${i}`;
    writeTree(tree, files);
    const cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    writeFileSync(join(tree, 'new.txt'), 'new');

    /** `analyze --rescan ARGS`, interrupted once the rescan has committed part of its walk. */
    const interrupted = async (args: string[]): Promise<{ code: number | null; out: string }> => {
      const child = spawn(
        process.execPath,
        [CLI, 'conductor', 'analyze', '--rescan', ...args, '--catalog', cat],
        {
          env: {
            ...process.env,
            HASHALL_CATALOG: '',
            NO_COLOR: '1',
            HASHALL_FAILPOINT_DELAY: 'scan-dir=20',
            HASHALL_FAILPOINT_FLAGS: 'scan-small-commits',
          },
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const until = Date.now() + 60_000;
      for (;;) {
        const n = readCatalog(cat, (db) => {
          try {
            return (
              db
                .prepare(
                  `SELECT count(*) AS n FROM dirs WHERE last_listed_scan = (SELECT max(id) FROM scans WHERE status = 'running')`,
                )
                .get() as { n: number }
            ).n;
          } catch {
            return 0;
          }
        });
        if (n > 0 || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGINT');
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      return { code, out };
    };

    const json = await interrupted(['--json']);
    expect(json.code).toBe(130);
    const j = JSON.parse(json.out) as {
      interrupted: boolean;
      rescan: ScanPart;
      same_device?: unknown;
    };
    expect(j.interrupted).toBe(true);
    expect(j.rescan.interrupted).toBe(true);
    expect(j.rescan.deleted).toBe(0);
    expect(j.same_device).toBeUndefined();

    // In words: the rescan says it was stopped, not that it rescanned; no analysis follows.
    const text = await interrupted([]);
    expect(text.code).toBe(130);
    expect(text.out).toMatch(
      new RegExp(
        `^warning: Rescan interrupted: ${realpathSync(tree)}: \\d+ files?, \\d+ new, 0 changed, 0 deleted\n   What it read is kept; nothing analyzed\\. Run the command again to finish\\.\n$`,
      ),
    );

    // The next one finishes the job.
    const again = analyze(cat, ['--rescan', '--json']).json<AnalyzeJson>();
    expect(again.rescan!.files).toBe(301);
    expect(readFileSync(join(tree, 'new.txt'), 'utf8')).toBe('new');
  });
});
