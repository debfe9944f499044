/**
 * Group members for planner tests: the catalogue rows keep rules, filters, scopes and the
 * reflink pricing look at, without a catalog. Each factory numbers its members' file ids
 * 1, 2, 3… in the order they are made (some tests shuffle by them).
 */
import type { Member } from '../../src/catalog/groups.js';

export type MemberFactory = (path: string, inode: number, extra?: Partial<Member>) => Member;

/** A regular file on device 1, 100 bytes, mode 0644, owned by 1000:1000, one link. */
export const MEMBER_DEFAULTS: Omit<Member, 'fileId' | 'path' | 'inode'> = {
  deviceId: 1,
  nlink: 1,
  size: 100,
  mtimeNs: 1n,
  ctimeNs: 1n,
  mode: 0o100644,
  uid: 1000,
  gid: 1000,
  sha256: Buffer.alloc(32, 1),
};

/** Members with these defaults (over MEMBER_DEFAULTS); `extra` overrides per member. */
export function memberFactory(defaults: Partial<Member> = {}): MemberFactory {
  let nextId = 1;
  return (path, inode, extra = {}) => ({
    ...MEMBER_DEFAULTS,
    fileId: nextId++,
    path: Buffer.from(path),
    inode: BigInt(inode),
    ...defaults,
    ...extra,
  });
}
