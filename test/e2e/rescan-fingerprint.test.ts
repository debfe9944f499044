/**
 * Directory listing fingerprints (bench/NOTES.md): a rescan skips the rows of a directory
 * whose listing is the one they were merged from. Whatever changed, a rescan must leave the
 * catalog exactly as a first scan of the same tree into a new catalog makes it (the oracle),
 * with the fingerprints in place — on the native walk and on the JS walk.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, linkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeStatus } from '../../src/fs/native.js';
import { readCatalog } from '../helpers/catalog.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { killAt } from '../helpers/kill-at.js';

interface ScanJson {
  readonly files: number;
  readonly new: number;
  readonly changed: number;
  readonly unchanged: number;
  readonly moved: number;
  readonly deleted: number;
}

const native = nativeStatus();
const WALKS = [
  {
    walk: 'native',
    env: {} as Record<string, string>,
    skip: native.kind === 'loaded' ? undefined : `the native addon is not loaded (${native.kind})`,
  },
  { walk: 'JS', env: { HASHALL_NATIVE: '0' } as Record<string, string>, skip: undefined },
];

/** Every active file row, as comparable text keyed by directory path and name. */
function activeRows(cat: string): Record<string, string> {
  return readCatalog(cat, (db) => {
    const rows = db
      .prepare(
        `SELECT d.path AS dir, f.name, f.inode, f.nlink, f.size, f.mtime_ns, f.ctime_ns, f.mode,
                f.uid, f.gid, f.blocks
           FROM files f JOIN dirs d ON d.id = f.dir_id
          WHERE f.status = 'active' AND d.status = 'active'`,
      )
      .safeIntegers(true)
      .all() as Record<string, unknown>[];
    const out: Record<string, string> = {};
    for (const r of rows) {
      const key = `${(r.dir as Buffer).toString('hex')}/${(r.name as Buffer).toString('hex')}`;
      out[key] = [r.inode, r.nlink, r.size, r.mtime_ns, r.ctime_ns, r.mode, r.uid, r.gid, r.blocks]
        .map(String)
        .join(' ');
    }
    return out;
  });
}

/** How many listed active directories hold a fingerprint (32 bytes), and how many there are. */
function fingerprinted(cat: string): { dirs: number; withFp: number } {
  return readCatalog(
    cat,
    (db) =>
      db
        .prepare(
          `SELECT count(*) AS dirs, coalesce(sum(length(listing_fp) = 32), 0) AS withFp
             FROM dirs WHERE status = 'active' AND last_listed_scan IS NOT NULL`,
        )
        .get() as { dirs: number; withFp: number },
  );
}

/** Rewrite a file with other bytes of the same size and put its times back, to the ns. */
function rewriteKeepingTimes(p: string, content: string): void {
  const before = statSync(p, { bigint: true });
  expect(BigInt(Buffer.byteLength(content))).toBe(before.size);
  const ref = `${p}.times`;
  execFileSync('touch', ['-r', p, ref]);
  writeFileSync(p, content);
  execFileSync('touch', ['-r', ref, p]);
  rmSync(ref);
  const after = statSync(p, { bigint: true });
  expect(after.mtimeNs).toBe(before.mtimeNs);
  expect(after.size).toBe(before.size);
  expect(after.ctimeNs).not.toBe(before.ctimeNs);
}

describe.each(WALKS)('a rescan with listing fingerprints ($walk walk)', ({ env, skip }) => {
  let dir: string;
  let tree: string;
  let cat: string;
  let oracleRun = 0;

  const scan = (...extra: string[]): ScanJson => {
    const r = hashall(['scan', tree, '--catalog', cat, '--json', ...extra], { env });
    if (r.code !== 0) throw new Error(`scan exited ${r.code}: ${r.stderr}`);
    return r.json<ScanJson>();
  };
  const ok = (args: string[]): Record<string, unknown> => {
    const r = hashall([...args, '--catalog', cat, '--json'], { env });
    if (r.code !== 0) throw new Error(`hashall ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.json();
  };
  /** The rows a first scan of the tree as it is now makes, in a catalog of its own. */
  const oracle = (): Record<string, string> => {
    const fresh = join(dir, `oracle-${++oracleRun}.db`);
    const r = hashall(['scan', tree, '--catalog', fresh, '--json'], { env });
    if (r.code !== 0) throw new Error(`oracle scan exited ${r.code}: ${r.stderr}`);
    return activeRows(fresh);
  };
  /** Scan, rescan unchanged: every directory has its fingerprint and the rescan used them. */
  const settled = (): void => {
    scan();
    const again = scan();
    expect(again.new + again.changed + again.deleted).toBe(0);
    const fp = fingerprinted(cat);
    expect(fp.withFp).toBe(fp.dirs);
  };

  beforeEach(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    cat = join(dir, 'c.db');
    writeTree(tree, {
      'a/one.txt': 'one one one',
      'a/two.txt': 'two two two',
      'a/three.bin': 'x'.repeat(5000),
      'b/copy-of-one.txt': 'one one one',
      'b/deep/four.txt': 'four',
      'top.txt': 'top',
    });
  });
  afterEach(() => removeTree(dir));

  it.skipIf(skip)(
    'stores a fingerprint for every directory and finds an unchanged tree unchanged',
    () => {
      const first = scan();
      expect(first.new).toBe(6);
      const fp = fingerprinted(cat);
      expect(fp.dirs).toBe(4);
      expect(fp.withFp).toBe(4);
      const again = scan();
      expect(again).toMatchObject({ files: 6, unchanged: 6, new: 0, changed: 0, deleted: 0 });
      expect(activeRows(cat)).toEqual(oracle());
    },
  );

  it.skipIf(skip)(
    'sees a content rewrite with the same size and the mtime put back (ctime moved)',
    () => {
      settled();
      rewriteKeepingTimes(join(tree, 'a/two.txt'), 'TWO TWO TWO');
      const r = scan();
      expect(r).toMatchObject({ changed: 1, new: 0, deleted: 0 });
      expect(activeRows(cat)).toEqual(oracle());
    },
  );

  it.skipIf(skip)('sees a rename within a directory', () => {
    settled();
    renameSync(join(tree, 'a/one.txt'), join(tree, 'a/uno.txt'));
    const r = scan();
    expect(r.moved).toBe(1);
    expect(activeRows(cat)).toEqual(oracle());
  });

  it.skipIf(skip)('sees a chmod', () => {
    settled();
    chmodSync(join(tree, 'b/deep/four.txt'), 0o600);
    const r = scan();
    expect(r).toMatchObject({ changed: 1, new: 0, deleted: 0 });
    expect(activeRows(cat)).toEqual(oracle());
  });

  it.skipIf(skip)('sees a hardlink added (the new name, and the other name’s nlink)', () => {
    settled();
    linkSync(join(tree, 'a/three.bin'), join(tree, 'b/three-again.bin'));
    const r = scan();
    expect(r).toMatchObject({ new: 1, changed: 1, deleted: 0 });
    expect(activeRows(cat)).toEqual(oracle());
  });

  it.skipIf(skip)('sees a file replaced by another of the same name', () => {
    settled();
    writeFileSync(join(tree, 'a/.replacement'), 'one one one');
    renameSync(join(tree, 'a/.replacement'), join(tree, 'a/one.txt'));
    const r = scan();
    // The replacement's own row (a new inode in place of the old one).
    expect(r.changed).toBe(1);
    expect(activeRows(cat)).toEqual(oracle());
  });

  it.skipIf(skip)(
    'sees a file that a killed scan catalogued and that was then removed again',
    () => {
      settled();
      // A file the next scan catalogues, in a directory whose listing then comes back to what the
      // stored fingerprint says: the killed scan must not leave that fingerprint standing.
      writeFileSync(join(tree, 'a/brief.txt'), 'here for a moment, a size of its own');
      killAt(['scan', tree, '--catalog', cat], {
        point: 'scan-walk-commit',
        after: 2,
        env: { ...env, HASHALL_FAILPOINT_FLAGS: 'scan-small-commits' },
      });
      const briefRow = readCatalog(
        cat,
        (db) =>
          db
            .prepare(`SELECT count(*) AS n FROM files WHERE name = ? AND status = 'active'`)
            .get(Buffer.from('brief.txt')) as { n: number },
      );
      expect(briefRow.n, 'the killed scan catalogued the file').toBe(1);
      rmSync(join(tree, 'a/brief.txt'));
      const r = scan();
      expect(r.deleted).toBe(1);
      expect(activeRows(cat)).toEqual(oracle());
    },
  );

  it.skipIf(skip)(
    'sees a catalog row rewritten without the file changing (what execute records)',
    () => {
      settled();
      // A catalog write that no filesystem change matches: only the trigger that forgets the
      // directory's fingerprint lets the rescan put the row right.
      const db = new Database(cat);
      try {
        db.prepare('UPDATE files SET ctime_ns = ctime_ns + 1 WHERE name = ?').run(
          Buffer.from('two.txt'),
        );
      } finally {
        db.close();
      }
      const r = scan();
      expect(r).toMatchObject({ changed: 1, new: 0, deleted: 0 });
      expect(activeRows(cat)).toEqual(oracle());
    },
  );

  it.skipIf(skip)('sees every change after an execute and after its undo', () => {
    settled();
    ok(['conductor', 'analyze']);
    const plan = ok(['conductor', 'plan', 'fingerprints']) as { id: number };
    ok(['conductor', 'execute', String(plan.id), '--force']);
    // The replaced file shares the kept one's inode now; both names' nlink and ctime moved.
    expect(statSync(join(tree, 'a/one.txt')).ino).toBe(
      statSync(join(tree, 'b/copy-of-one.txt')).ino,
    );
    scan();
    expect(activeRows(cat)).toEqual(oracle());
    expect(scan()).toMatchObject({ new: 0, changed: 0, deleted: 0 });
    ok(['conductor', 'undo', String(plan.id), '--force']);
    expect(statSync(join(tree, 'a/one.txt')).ino).not.toBe(
      statSync(join(tree, 'b/copy-of-one.txt')).ino,
    );
    scan();
    expect(activeRows(cat)).toEqual(oracle());
  });

  it.skipIf(skip)(
    'sees a change after a hashing scan, and hashes the changed file’s new content',
    () => {
      scan('--hash', 'all');
      scan();
      const fp = fingerprinted(cat);
      expect(fp.withFp).toBe(fp.dirs);
      rewriteKeepingTimes(join(tree, 'a/one.txt'), 'ONE ONE ONE');
      expect(scan()).toMatchObject({ changed: 1, new: 0, deleted: 0 });
      expect(activeRows(cat)).toEqual(oracle());
      const sha = readCatalog(
        cat,
        (db) =>
          db
            .prepare(`SELECT sha256 FROM files WHERE name = ? AND status = 'active'`)
            .get(Buffer.from('one.txt')) as { sha256: Buffer | null },
      );
      expect(sha.sha256?.toString('hex')).toBe(
        createHash('sha256').update('ONE ONE ONE').digest('hex'),
      );
    },
  );

  it.skipIf(skip)('catalogues a file an exclusion hid once the exclusion is gone', () => {
    scan('--exclude', 'two.txt');
    scan('--exclude', 'two.txt');
    // The directory with an excluded name has no fingerprint: its result depends on more than
    // its listing.
    const fp = fingerprinted(cat);
    expect(fp.withFp).toBe(fp.dirs - 1);
    const r = scan();
    expect(r.new).toBe(1);
    expect(activeRows(cat)).toEqual(oracle());
  });
});
