import { describe, expect, it } from 'vitest';
import { planSameDeviceGroup } from '../../src/conductor/keep.js';
import {
  ALREADY_SHARED,
  INLINE,
  priceActions,
  toReflinkActions,
} from '../../src/conductor/reflink-plan.js';
import { exclusiveBytes, sameBlocks, type ExtentMap } from '../../src/fs/reflink.js';
import { memberFactory } from '../helpers/members.js';

const m = memberFactory({ size: 10_000 });

const ext = (...e: [number, number, number, string?][]): ExtentMap => ({
  extents: e.map(([logical, physical, length, flags]) => ({
    logical,
    physical,
    length,
    flags: flags ? flags.split(',') : [],
  })),
});

describe('reflink planning', () => {
  it('owner/group/mode differences become clones; pinned inodes stay skipped', () => {
    const members = [
      m('/a', 1),
      m('/b', 2, { uid: 2000, mode: 0o100600 }),
      m('/c1', 3, { nlink: 2, gid: 7 }),
      m('/c2', 3, { nlink: 2, gid: 7 }),
      m('/d', 4, { nlink: 3 }), // pinned: two links outside the catalog
      m('/e', 5),
    ];
    const hard = planSameDeviceGroup(members, 'path');
    expect(hard.filter((a) => a.type === 'SKIP')).toHaveLength(4);
    const clone = toReflinkActions(hard);
    const by = (p: string) => clone.find((a) => a.target.path.toString() === p)!;
    expect(by('/b')).toMatchObject({ type: 'HARDLINK', bytes: 10_000 });
    expect(by('/b').reason).toBeUndefined();
    // Inode 3 has two names: a clone per name would split them into two files, so neither
    // is replaced (the user's hardlink stays one file).
    expect(by('/c1')).toMatchObject({ type: 'SKIP', bytes: 0 });
    expect(by('/c2')).toMatchObject({ type: 'SKIP', bytes: 0 });
    expect(by('/c1').reason).toMatch(/^hardlinked: /);
    expect(by('/d')).toMatchObject({ type: 'SKIP', bytes: 0 });
    expect(by('/d').reason).toMatch(/^pinned/);
    expect(by('/e')).toMatchObject({ type: 'HARDLINK', bytes: 10_000 });
  });

  it("prices a clone by the target's own blocks; NOOP when already shared, SKIP when inline", () => {
    const actions = toReflinkActions(
      planSameDeviceGroup([m('/a', 1), m('/b', 2), m('/c', 3), m('/d', 4), m('/e', 5)], 'path'),
    );
    const maps = new Map<bigint, ExtentMap | undefined>([
      [1n, ext([0, 1000, 4096, 'shared'], [4096, 9000, 8192, 'last,shared'])],
      // /b: the same blocks as /a (a clone of it)
      [2n, ext([0, 1000, 4096, 'shared'], [4096, 9000, 8192, 'last,shared,eof'])],
      // /c: half shared with something else (a snapshot), half its own
      [3n, ext([0, 50_000, 4096, 'shared'], [4096, 60_000, 8192, 'last'])],
      // /d: inline in metadata
      [4n, ext([0, 0, 4096, 'not_aligned,inline,last'])],
      // /e: no map (FIEMAP unavailable): priced by its size
      [5n, undefined],
    ]);
    const { actions: priced, estimated } = priceActions(actions, (x) => maps.get(x.inode));
    const by = (p: string) => priced.find((a) => a.target.path.toString() === p)!;
    expect(by('/b')).toMatchObject({ type: 'NOOP', bytes: 0, reason: ALREADY_SHARED });
    expect(by('/c')).toMatchObject({ type: 'HARDLINK', bytes: 8192 });
    expect(by('/d')).toMatchObject({ type: 'SKIP', bytes: 0, reason: INLINE });
    expect(by('/e')).toMatchObject({ type: 'HARDLINK', bytes: 10_000 });
    expect(estimated).toBe(1);
  });

  it('compares block maps physically, merging contiguous extents', () => {
    const a = ext([0, 100, 10, 'shared'], [10, 110, 10, 'shared']);
    const b = ext([0, 100, 20, 'shared']);
    expect(sameBlocks(a, b)).toBe(true);
    expect(sameBlocks(a, ext([0, 100, 10, 'shared'], [10, 200, 10, 'shared']))).toBe(false);
    expect(sameBlocks(ext(), ext())).toBe(false); // no blocks: nothing proven
    expect(sameBlocks(ext([0, 0, 10, 'inline']), ext([0, 0, 10, 'inline']))).toBe(false);
    expect(sameBlocks(ext([0, 0, 10, 'delalloc']), ext([0, 0, 10, 'delalloc']))).toBe(false);
    expect(exclusiveBytes(ext([0, 1, 10], [10, 50, 5, 'shared'], [15, 0, 3, 'inline']))).toBe(10);
  });
});
