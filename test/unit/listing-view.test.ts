/**
 * A listing read in place (ListingView, src/fs/dir-list.ts) must give, entry by entry, what the
 * same listing's entries give: a rescan skims the directories the catalog holds through the view
 * alone (src/scan/skim.ts), and the full walk reads the entries. Checked on a hostile tree, with
 * the native lister and the JS one, and the skim of both listings compared.
 */
import { lstatSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DirLister, DirRead, ListingView } from '../../src/fs/dir-list.js';
import { JsDirLister } from '../../src/fs/js-list.js';
import { NativeDirLister } from '../../src/fs/native-list.js';
import { nativeStatus } from '../../src/fs/native.js';
import { skimListing } from '../../src/scan/skim.js';
import { makeSocket, mktree, removeTree, sh, tempDir } from '../helpers/fs.js';

/** What a call gives, or the code of what it threw: comparable either way. */
function outcome<T>(f: () => T): T | { threw: unknown } {
  try {
    return f();
  } catch (e) {
    return { threw: (e as { code?: unknown }).code ?? String(e) };
  }
}

/**
 * Every directory below `root` (symlinks not followed), parents first, names as bytes; those
 * at PATH_MAX or beyond left out (the listers take shorter paths, src/fs/reach.ts).
 */
function directories(root: string): Buffer[] {
  const out = [Buffer.from(root)];
  for (let i = 0; i < out.length; i++) {
    for (const d of readdirSync(out[i]!, { withFileTypes: true, encoding: 'buffer' })) {
      const p = Buffer.concat([out[i]!, Buffer.from('/'), d.name]);
      if (d.isDirectory() && p.length < 4000) out.push(p);
    }
  }
  return out;
}

function listed(lister: DirLister, dir: Buffer): Extract<DirRead, { kind: 'listed' }> {
  const st = lstatSync(dir, { bigint: true });
  const read = lister.list(dir, { dev: st.dev, ino: st.ino });
  if (read.kind !== 'listed') throw new Error(`${dir}: ${read.kind}`);
  return read;
}

/** Entry by entry, what the entries give. */
function fromEntries(read: Extract<DirRead, { kind: 'listed' }>) {
  return read.entries.map((e) => ({
    name: e.name,
    kind: e.kind,
    statKind: outcome(() => e.statKind()),
    stat: outcome(() => e.stat()),
  }));
}

/** Entry by entry, what the view reads. */
function viewed(v: ListingView) {
  return Array.from({ length: v.count }, (_, i) => ({
    name: v.nameAt(i),
    kind: v.kindAt(i),
    statKind: outcome(() => v.statKindAt(i)),
    stat: outcome(() => v.statAt(i)),
  }));
}

describe('a listing read in place', () => {
  let dir: string;
  let tree: string;
  let dirs: Buffer[];
  beforeAll(() => {
    dir = realpathSync(tempDir());
    tree = join(dir, 'tree');
    mktree(tree, ['--tricky', '--files', '120', '--total-mb', '1', '--seed', '7']);
    // What --tricky does not make: a socket, a device, one of our temporary names, and a
    // directory whose name is one.
    const extra = join(tree, 'extra');
    mkdirSync(join(extra, '.hashall-tmp-dir'), { recursive: true });
    makeSocket(join(extra, 'sock'));
    sh('mknod', [join(extra, 'null'), 'c', '1', '3']);
    writeFileSync(join(extra, '.hashall-tmp-link'), 'ours');
    dirs = directories(tree);
  });
  afterAll(() => removeTree(dir));

  it('gives what the entries give, with the JS lister', () => {
    const js = new JsDirLister();
    try {
      for (const d of dirs) {
        const read = listed(js, d);
        expect(viewed(read.view)).toEqual(fromEntries(read));
      }
    } finally {
      js.close();
    }
  });

  it('gives what the entries give, with the native lister, and skims as the JS one', (ctx) => {
    const s = nativeStatus();
    if (s.kind !== 'loaded') {
      // Turned off on purpose (CI's pure-JS pass) is a reason to skip; failing to load is not,
      // where CI requires the addon.
      const why =
        s.kind === 'disabled'
          ? 'the native addon is turned off (HASHALL_NATIVE=0)'
          : `the native addon is not loaded (${s.reason}; npm run build:native)`;
      if (s.kind !== 'disabled' && process.env.HASHALL_REQUIRE_NATIVE === '1') throw new Error(why);
      console.warn(`skipping: ${why}`);
      ctx.skip(why);
      return;
    }
    const native = new NativeDirLister(s.addon);
    const js = new JsDirLister();
    let skimmed = 0;
    let tempNamed = 0;
    try {
      for (const d of dirs) {
        const n = listed(native, d);
        // Read in place first: the entries are made on first use and must not change that.
        const inPlace = viewed(n.view);
        expect(inPlace).toEqual(fromEntries(n));
        expect(viewed(n.view)).toEqual(inPlace);

        const stDev = lstatSync(d, { bigint: true }).dev;
        const params = { stDev, isMountPoint: () => false };
        const nativeSkim = skimListing({ ...params, view: n.view });
        const jsSkim = skimListing({ ...params, view: listed(js, d).view });
        expect(nativeSkim).toEqual(jsSkim);
        if (nativeSkim) skimmed++;
        if (inPlace.some((e) => e.name.toString().startsWith('.hashall-tmp'))) {
          // A temporary name: never skimmed (the full walk keeps it).
          expect(nativeSkim).toBeUndefined();
          tempNamed++;
        }
      }
    } finally {
      js.close();
    }
    expect(skimmed).toBeGreaterThan(10);
    expect(tempNamed).toBe(1);
  });
});
