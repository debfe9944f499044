import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Member } from '../../src/catalog/groups.js';
import {
  chooseKept,
  byInode,
  planCrossDeviceGroup,
  planLinkOnlyInode,
  planSameDeviceGroup,
} from '../../src/conductor/keep.js';
import { memberFactory } from '../helpers/members.js';

const m = memberFactory();

describe('keep rules', () => {
  it('most-linked keeps the inode with the most catalogued links, then the lexically first path', () => {
    const members = [
      m('/a/1', 10),
      m('/z/1', 20, { nlink: 2 }),
      m('/z/2', 20, { nlink: 2 }),
      m('/b/1', 30),
    ];
    expect(chooseKept(byInode(members), 'most-linked').inode).toBe(20n);
    expect(chooseKept(byInode(members), 'path').inode).toBe(10n);
    expect(chooseKept(byInode([m('/b', 1), m('/a', 2)]), 'most-linked').inode).toBe(2n);
  });

  it('prefers keeping an inode pinned by links outside the catalog', () => {
    const members = [m('/a', 1), m('/b', 2), m('/c', 2), m('/z', 3, { nlink: 5 })];
    expect(chooseKept(byInode(members), 'most-linked').inode).toBe(3n);
  });

  it('plans HARDLINK for every path of each other inode, counting its bytes once', () => {
    const members = [m('/k', 1), m('/x1', 2, { nlink: 2 }), m('/x2', 2, { nlink: 2 }), m('/y', 3)];
    const actions = planSameDeviceGroup(members, 'path');
    const links = actions.filter((a) => a.type === 'HARDLINK');
    expect(links.map((a) => a.target.path.toString())).toEqual(['/x1', '/x2', '/y']);
    expect(links.every((a) => a.source.path.toString() === '/k')).toBe(true);
    expect(links.reduce((s, a) => s + a.bytes, 0)).toBe(200);
    expect(links.find((a) => a.target.path.toString() === '/x1')!.bytes).toBe(0);
  });

  it('reports NOOP for the kept inode’s other paths and never re-links them', () => {
    const actions = planSameDeviceGroup(
      [m('/a', 1, { nlink: 2 }), m('/b', 1, { nlink: 2 }), m('/c', 2)],
      'most-linked',
    );
    expect(actions.map((a) => [a.type, a.target.path.toString()])).toEqual([
      ['NOOP', '/b'],
      ['HARDLINK', '/c'],
    ]);
  });

  it('skips pinned inodes and owner/group/mode mismatches with the reason', () => {
    const actions = planSameDeviceGroup(
      [
        m('/a', 1),
        m('/p', 2, { nlink: 3 }),
        m('/mode', 3, { mode: 0o100600 }),
        m('/own', 4, { uid: 0 }),
        m('/grp', 5, { gid: 5 }),
      ],
      'path',
    );
    const reasons = Object.fromEntries(
      actions.map((a) => [a.target.path.toString(), `${a.type} ${a.reason ?? ''}`]),
    );
    expect(reasons['/p']).toMatch(/^SKIP pinned: 2 link/);
    expect(reasons['/mode']).toMatch(/^SKIP owner\/group\/mode differ: mode 0600 vs kept 0644/);
    expect(reasons['/own']).toMatch(/owner 0 vs kept 1000/);
    expect(reasons['/grp']).toMatch(/group 5 vs kept 1000/);
    expect(actions.every((a) => a.bytes === 0)).toBe(true);
  });

  it('link-only inodes become NOOPs; cross-device copies become informational SKIPs', () => {
    expect(
      planLinkOnlyInode([m('/b', 7, { nlink: 2 }), m('/a', 7, { nlink: 2 })]).map((a) =>
        a.target.path.toString(),
      ),
    ).toEqual(['/b']);
    const cross = planCrossDeviceGroup(
      [
        m('/p/x', 1),
        m('/s/x', 9, { deviceId: 2 }),
        m('/s/y', 9, { deviceId: 2 }),
        m('/t/x', 4, { deviceId: 3 }),
      ],
      'most-linked',
    );
    expect(
      cross.map((a) => [a.type, a.reason, a.source.path.toString(), a.target.path.toString()]),
    ).toEqual([
      ['SKIP', 'cross-device', '/p/x', '/s/x'],
      ['SKIP', 'cross-device', '/p/x', '/t/x'],
    ]);
    expect(cross.every((a) => a.bytes === 0)).toBe(true);
  });
});

describe('planning a group with filters', () => {
  /** Filter out the paths in `out` (as the filters module would, with a 'filtered' reason). */
  const without = (...out: string[]) => ({
    reject: (x: Member) => (out.includes(x.path.toString()) ? 'filtered: test' : undefined),
  });
  const summary = (actions: ReturnType<typeof planSameDeviceGroup>) =>
    actions.map((a) => [
      a.type,
      a.source.path.toString(),
      a.target.path.toString(),
      a.bytes,
      (a.reason ?? '').replace(/:.*/, ''),
    ]);

  it('a filtered-out path is neither replaced nor kept, and is listed as SKIP filtered', () => {
    const actions = planSameDeviceGroup(
      [m('/a', 1), m('/b', 2), m('/c', 3)],
      'path',
      without('/a'),
    );
    expect(summary(actions)).toEqual([
      ['SKIP', '/b', '/a', 0, 'filtered'],
      ['HARDLINK', '/b', '/c', 100, ''],
    ]);
    expect(actions.every((a) => a.keepRule === 'path')).toBe(true);
  });

  it('an inode with a filtered-out link is kept by most-linked, and never replaced otherwise', () => {
    const members = [
      m('/a', 1),
      m('/t/x', 2, { nlink: 2 }),
      m('/seed/x', 2, { nlink: 2 }),
      m('/z', 3),
    ];
    expect(summary(planSameDeviceGroup(members, 'most-linked', without('/seed/x')))).toEqual([
      ['SKIP', '/t/x', '/seed/x', 0, 'filtered'],
      ['HARDLINK', '/t/x', '/a', 100, ''],
      ['HARDLINK', '/t/x', '/z', 100, ''],
    ]);
    expect(summary(planSameDeviceGroup(members, 'path', without('/seed/x')))).toEqual([
      ['SKIP', '/a', '/t/x', 0, 'partly filtered'],
      ['SKIP', '/a', '/seed/x', 0, 'filtered'],
      ['HARDLINK', '/a', '/z', 100, ''],
    ]);
  });

  it('one unfiltered copy saves nothing; no unfiltered path leaves the group out', () => {
    const members = [m('/a', 1), m('/b', 2), m('/c', 3)];
    const one = planSameDeviceGroup(members, 'most-linked', without('/a', '/c'));
    expect(summary(one)).toEqual([
      ['SKIP', '/b', '/a', 0, 'filtered'],
      ['SKIP', '/b', '/c', 0, 'filtered'],
    ]);
    expect(one.every((a) => a.keepRule === 'only candidate')).toBe(true);
    expect(planSameDeviceGroup(members, 'most-linked', without('/a', '/b', '/c'))).toEqual([]);
  });

  it('pinned and owner/mode reasons still apply to unfiltered copies', () => {
    const actions = planSameDeviceGroup(
      [m('/a', 1), m('/p', 2, { nlink: 3 }), m('/mode', 3, { mode: 0o100600 }), m('/f', 4)],
      'path',
      without('/f'),
    );
    expect(summary(actions)).toEqual([
      ['SKIP', '/a', '/p', 0, 'pinned'],
      ['SKIP', '/a', '/mode', 0, 'owner/group/mode differ'],
      ['SKIP', '/a', '/f', 0, 'filtered'],
    ]);
  });

  it('link-only inodes and cross-device groups count only unfiltered paths', () => {
    const link = planLinkOnlyInode(
      [m('/a', 7, { nlink: 3 }), m('/b', 7, { nlink: 3 }), m('/c', 7, { nlink: 3 })],
      'path',
      without('/a'),
    );
    expect(summary(link)).toEqual([
      ['SKIP', '/b', '/a', 0, 'filtered'],
      ['NOOP', '/b', '/c', 0, 'already linked'],
    ]);
    const members = [m('/p/x', 1), m('/s/x', 9, { deviceId: 2 }), m('/t/x', 4, { deviceId: 3 })];
    expect(
      planCrossDeviceGroup(members, 'path', without('/s/x')).map((a) => a.target.path.toString()),
    ).toEqual(['/t/x']);
    expect(planCrossDeviceGroup(members, 'path', without('/s/x', '/t/x'))).toEqual([]);
    expect(planCrossDeviceGroup(members, 'path', without('/s/x'), 2)).toEqual([]);
  });

  it('never touches a filtered path and frees exactly the freeable inodes (property)', () => {
    const arb = fc
      .array(
        fc.record({
          inode: fc.integer({ min: 1, max: 5 }),
          extraLinks: fc.integer({ min: 0, max: 1 }),
          mode: fc.constantFrom(0o100644, 0o100600),
          out: fc.boolean(),
        }),
        { minLength: 2, maxLength: 10 },
      )
      .map((rows) => rows.map((r, i) => ({ ...r, path: `/d${i % 3}/f${i}` })));
    fc.assert(
      fc.property(
        arb,
        fc.constantFrom<'most-linked' | 'path' | 'oldest'>('most-linked', 'path', 'oldest'),
        (rows, rule) => {
          // Rows of one inode share its link count and mode, as on disk.
          const first = new Map<number, (typeof rows)[number]>();
          for (const r of rows) if (!first.has(r.inode)) first.set(r.inode, r);
          const count = (ino: number) => rows.filter((r) => r.inode === ino).length;
          const members = rows.map((r) =>
            m(r.path, r.inode, {
              nlink: count(r.inode) + first.get(r.inode)!.extraLinks,
              mode: first.get(r.inode)!.mode,
              mtimeNs: BigInt(r.inode),
            }),
          );
          const out = rows.filter((r) => r.out).map((r) => r.path);
          const actions = planSameDeviceGroup(members, rule, without(...out));
          if (out.length === rows.length) {
            expect(actions).toEqual([]);
            return;
          }
          const source = actions[0]?.source;
          if (!source) {
            // One unfiltered path alone on its inode, nothing else in the group to list.
            expect(rows.length - out.length).toBe(1);
            return;
          }
          expect(out).not.toContain(source.path.toString());
          // Every other path listed exactly once; filtered ones as SKIP filtered.
          const targets = actions.map((a) => a.target.path.toString()).sort();
          expect(targets).toEqual(
            rows
              .map((r) => r.path)
              .filter((p) => p !== source.path.toString())
              .sort(),
          );
          for (const a of actions) {
            const filtered = out.includes(a.target.path.toString());
            if (filtered) expect([a.type, a.reason]).toEqual(['SKIP', 'filtered: test']);
            if (a.type === 'HARDLINK') expect(filtered).toBe(false);
          }
          // Bytes: each non-kept inode that is unpinned, wholly unfiltered and of the kept mode.
          const keptMode = first.get(Number(source.inode))!.mode;
          let expected = 0;
          for (const [ino, r] of first) {
            if (BigInt(ino) === source.inode) continue;
            const paths = rows.filter((x) => x.inode === ino);
            if (r.extraLinks > 0 || paths.some((x) => x.out) || r.mode !== keptMode) continue;
            expected += 100;
          }
          expect(actions.reduce((s, a) => s + a.bytes, 0)).toBe(expected);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
