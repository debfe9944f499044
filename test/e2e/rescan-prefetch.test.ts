/**
 * The rescan's prefetched fingerprints (bench/NOTES.md), on the native walk and on the
 * JS walk: directories found unchanged are marked listed a page (1,024) at a time, changed
 * ones among them are merged as before, a rescan of a subtree reads and marks that subtree's
 * directories only, and a rescan killed with a page marked but not committed leaves nothing
 * the next rescan would trust wrongly. The oracle: a first scan of the tree as it is, into a
 * catalog of its own.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeStatus } from '../../src/fs/native.js';
import { readCatalog } from '../helpers/catalog.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { killAt } from '../helpers/kill-at.js';

interface ScanJson {
  readonly roots: readonly { readonly scan_id: number }[];
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

/** More directories than one page of marks (MARK_PAGE, 1,024) twice over. */
const DIRS = 2200;
const dirName = (i: number): string => `d${String(i).padStart(4, '0')}`;
/** A name that is not UTF-8. */
const ODD = Buffer.from([0x64, 0xff, 0xfe]);

interface DirRow {
  readonly path: Buffer;
  readonly listed: number | null;
  readonly fp: number;
}

/**
 * Every active directory at or below `root` (the tree's path in the catalog; its ancestors have
 * rows too): its path, the scan that listed it last, its fingerprint's length.
 */
function dirRows(cat: string, root: string): DirRow[] {
  const rows = readCatalog(
    cat,
    (db) =>
      db
        .prepare(
          `SELECT path, last_listed_scan AS listed, coalesce(length(listing_fp), 0) AS fp
             FROM dirs WHERE status = 'active'`,
        )
        .all() as DirRow[],
  );
  return rows.filter((d) => {
    const p = d.path.toString('latin1');
    return p === root || p.startsWith(`${root}/`);
  });
}

/** Every active file row, as comparable text keyed by directory path and name. */
function activeRows(cat: string): Record<string, string> {
  return readCatalog(cat, (db) => {
    const rows = db
      .prepare(
        `SELECT d.path AS dir, f.name, f.inode, f.nlink, f.size, f.mtime_ns, f.ctime_ns, f.mode
           FROM files f JOIN dirs d ON d.id = f.dir_id
          WHERE f.status = 'active' AND d.status = 'active'`,
      )
      .safeIntegers(true)
      .all() as Record<string, unknown>[];
    const out: Record<string, string> = {};
    for (const r of rows) {
      const key = `${(r.dir as Buffer).toString('hex')}/${(r.name as Buffer).toString('hex')}`;
      out[key] = [r.inode, r.nlink, r.size, r.mtime_ns, r.ctime_ns, r.mode].map(String).join(' ');
    }
    return out;
  });
}

describe.each(WALKS)('a rescan with prefetched fingerprints ($walk walk)', ({ env, skip }) => {
  let dir: string;
  let tree: string;
  let cat: string;
  let oracleRun = 0;

  const scan = (root = tree): ScanJson => {
    const r = hashall(['scan', root, '--catalog', cat, '--json'], { env });
    if (r.code !== 0) throw new Error(`scan exited ${r.code}: ${r.stderr}`);
    return r.json<ScanJson>();
  };
  const oracle = (): Record<string, string> => {
    const fresh = join(dir, `oracle-${++oracleRun}.db`);
    const r = hashall(['scan', tree, '--catalog', fresh, '--json'], { env });
    if (r.code !== 0) throw new Error(`oracle scan exited ${r.code}: ${r.stderr}`);
    return activeRows(fresh);
  };
  /** Scan, then rescan unchanged; resolves to the rescan's scan id. */
  const settled = (): number => {
    scan();
    const again = scan();
    expect(again).toMatchObject({ new: 0, changed: 0, deleted: 0, unchanged: DIRS + 3 });
    return again.roots[0]!.scan_id;
  };
  /** The catalog's path of the tree (its path within its filesystem). */
  const treePath = (scanId: number): string =>
    readCatalog(cat, (db) =>
      (db.prepare('SELECT fs_path FROM scans WHERE id = ?').pluck().get(scanId) as Buffer).toString(
        'latin1',
      ),
    );

  beforeEach(() => {
    dir = tempDir();
    tree = join(dir, 'tree');
    cat = join(dir, 'c.db');
    for (let i = 0; i < DIRS; i++) {
      mkdirSync(join(tree, dirName(i)), { recursive: true });
      writeFileSync(join(tree, dirName(i), 'f'), `file ${i}`);
    }
    // Siblings whose names start with d0005's: not below it.
    for (const sib of ['d0005-sib', 'd0005sib']) {
      mkdirSync(join(tree, sib));
      writeFileSync(join(tree, sib, 'f'), sib);
    }
    const odd = Buffer.concat([Buffer.from(`${tree}/`), ODD]);
    mkdirSync(odd);
    writeFileSync(Buffer.concat([odd, Buffer.from('/f')]), 'odd');
  });
  afterEach(() => removeTree(dir));

  it.skipIf(skip)(
    'marks every unchanged directory listed, a page at a time, and merges the changed ones among them',
    () => {
      const root = treePath(settled());
      // Around the first page's end (the root and d0000… come first in the walk) and beyond.
      writeFileSync(join(tree, dirName(1022), 'g'), 'a new file');
      rmSync(join(tree, dirName(1023), 'f'));
      writeFileSync(join(tree, dirName(1024), 'f'), 'rewritten, another size');
      mkdirSync(join(tree, dirName(2100), 'sub'));
      writeFileSync(join(tree, dirName(2100), 'sub', 'h'), 'below a new directory');
      const r = scan();
      expect(r).toMatchObject({ new: 2, changed: 1, deleted: 1, moved: 0 });
      expect(r.unchanged).toBe(DIRS + 3 - 2);
      expect(activeRows(cat)).toEqual(oracle());
      // Every directory listed by this rescan, each with its fingerprint again.
      const rows = dirRows(cat, root);
      expect(rows).toHaveLength(DIRS + 5);
      for (const d of rows) {
        expect(d.listed, d.path.toString('latin1')).toBe(r.roots[0]!.scan_id);
        expect(d.fp, d.path.toString('latin1')).toBe(32);
      }
      expect(scan()).toMatchObject({ new: 0, changed: 0, deleted: 0, unchanged: DIRS + 4 });
    },
  );

  it.skipIf(skip)('a rescan of a subtree reads and marks that subtree only', () => {
    const before = settled();
    const root = treePath(before);
    writeFileSync(join(tree, dirName(5), 'g'), 'new in the subtree');
    mkdirSync(join(tree, dirName(5), 'inner'));
    writeFileSync(join(tree, dirName(5), 'inner', 'h'), 'below it');
    const mid = scan(join(tree, dirName(5)));
    expect(mid).toMatchObject({ files: 3, new: 2, unchanged: 1, deleted: 0 });
    const sub = scan(join(tree, dirName(5)));
    expect(sub).toMatchObject({ files: 3, new: 0, unchanged: 3, deleted: 0 });
    const inSub = (p: string): boolean =>
      p === `${root}/${dirName(5)}` || p.startsWith(`${root}/${dirName(5)}/`);
    let below = 0;
    for (const d of dirRows(cat, root)) {
      const p = d.path.toString('latin1');
      expect(d.listed, p).toBe(inSub(p) ? sub.roots[0]!.scan_id : before);
      if (inSub(p)) below++;
    }
    expect(below).toBe(2);
    expect(activeRows(cat)).toEqual(oracle());
  });

  it.skipIf(skip)(
    'a rescan killed with a page marked and not committed leaves nothing stale',
    () => {
      settled();
      writeFileSync(join(tree, dirName(500), 'g'), 'new before the page');
      writeFileSync(join(tree, dirName(2000), 'f'), 'rewritten after the page');
      killAt(['scan', tree, '--catalog', cat], { point: 'scan-mark-page', env });
      rmSync(join(tree, dirName(500), 'g'));
      writeFileSync(join(tree, dirName(700), 'g'), 'new after the kill');
      const r = scan();
      expect(r).toMatchObject({ new: 1, changed: 1 });
      expect(activeRows(cat)).toEqual(oracle());
      expect(scan()).toMatchObject({ new: 0, changed: 0, deleted: 0, unchanged: DIRS + 4 });
    },
  );
});
