import { describe, expect, it } from 'vitest';
import type { Member } from '../../src/catalog/groups.js';
import {
  chooseKept,
  byInode,
  planCrossDeviceGroup,
  planLinkOnlyInode,
  planSameDeviceGroup,
} from '../../src/conductor/keep.js';

let nextId = 1;
function m(path: string, inode: number, extra: Partial<Member> = {}): Member {
  return {
    fileId: nextId++,
    deviceId: 1,
    path: Buffer.from(path),
    inode: BigInt(inode),
    nlink: 1,
    size: 100,
    mtimeNs: 1n,
    ctimeNs: 1n,
    mode: 0o100644,
    uid: 1000,
    gid: 1000,
    sha256: Buffer.alloc(32, 1),
    ...extra,
  };
}

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
