/**
 * Plan reads a page of groups' members in one statement (src/catalog/group-member-page.ts): the
 * same members, in the same order, as one query per group (groupMembers) gives, which plans
 * depend on. On a real catalog whose rows are written here, so that a group's row id order and
 * inode order differ.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openCatalog } from '../../src/catalog/open.js';
import { groupMembers, prepareSameDeviceGroups, sameGroupPage } from '../../src/catalog/groups.js';
import { SAME_GROUP_MEMBERS_SQL, sameGroupMembers } from '../../src/catalog/group-member-page.js';
import { removeTree, tempDir } from '../helpers/fs.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeTree));

const A = Buffer.alloc(32, 0xa);
const B = Buffer.alloc(32, 0xb);
const C = Buffer.alloc(32, 0xc);

/** [id, device, dir, name, inode, sha256, size]: ids and inodes in different orders. */
const ROWS: [number, number, number, string, number, Buffer, number][] = [
  [1, 1, 2, 'a1', 30, A, 100],
  [2, 1, 2, 'a2', 10, A, 100],
  [3, 1, 1, 'a3', 20, A, 100],
  [4, 1, 2, 'a4', 10, A, 100], // a second link of a2's inode
  [5, 1, 2, 'b1', 41, B, 200],
  [6, 1, 1, 'b2', 40, B, 200],
  [7, 1, 2, 'c1', 50, C, 300],
  [8, 1, 2, 'c2', 51, C, 300],
  [9, 2, 3, 'a-elsewhere', 10, A, 100], // the same content on another device
];

function catalog() {
  const d = tempDir();
  dirs.push(d);
  const cat = openCatalog(join(d, 'c.db'));
  const { db } = cat;
  db.exec(`
    INSERT INTO devices (id, identity, identity_stable, alias, fs_type, st_dev, mount_point, mount_root, first_seen_at, last_seen_at)
      VALUES (1, 'a', 1, 'a', 'tmpfs', 1, X'2f', X'2f', 0, 0), (2, 'b', 1, 'b', 'tmpfs', 2, X'2f62', X'2f', 0, 0);
    INSERT INTO scans (id, root, started_at, status) VALUES (1, X'2f', 0, 'completed');
    INSERT INTO dirs (id, device_id, parent_id, path, status) VALUES
      (1, 1, NULL, X'2f', 'active'), (2, 1, 1, CAST('/x' AS BLOB), 'active'), (3, 2, NULL, X'2f', 'active');
  `);
  const ins = db.prepare(
    `INSERT INTO files (id, device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid,
                        blocks, prefix_hash, sha256, status, first_seen_scan, changed_scan)
     VALUES (?, ?, ?, ?, ?, 1, ?, 1, 1, 33188, 0, 0, 8, ?, ?, 'active', 1, 1)`,
  );
  for (const [id, dev, dir, name, inode, sha, size] of ROWS)
    ins.run(id, dev, dir, Buffer.from(name), inode, size, sha, sha);
  return cat;
}

describe('the members of a page of same-device groups', () => {
  it('are each group’s members as groupMembers reads them, in inode order, then row id', async () => {
    const cat = catalog();
    const { db } = cat;
    try {
      prepareSameDeviceGroups(db, undefined, false, 'rows');
      // Group C's paths go after the groups were prepared: an empty group, as groupMembers says.
      db.exec(`UPDATE files SET status = 'deleted' WHERE id IN (7, 8)`);
      const page = sameGroupPage(db, 0, 100);
      expect(page).toHaveLength(3);
      const members = sameGroupMembers(db, 0, page.at(-1)!.rowId);
      for (const g of page) {
        expect(members.get(g.rowId) ?? []).toEqual(groupMembers(db, g.deviceId, g.sha256, g.size));
      }
      const ids = (sha: Buffer) =>
        members.get(page.find((g) => g.sha256.equals(sha))!.rowId)?.map((m) => m.fileId);
      expect(ids(A)).toEqual([2, 4, 3, 1]);
      expect(ids(B)).toEqual([6, 5]);
      expect(ids(C)).toBeUndefined();
      const a = members.get(page.find((g) => g.sha256.equals(A))!.rowId)!;
      expect(a.map((m) => m.path.toString())).toEqual(['/x/a2', '/x/a4', '/a3', '/x/a1']);
      // A range of the page: only the groups in it.
      const first = page[0]!.rowId;
      expect([...sameGroupMembers(db, first, page[1]!.rowId).keys()]).toEqual([page[1]!.rowId]);
    } finally {
      await cat.close();
    }
  });

  it('searches files_hashed once per group of the page, the page being the outer loop', async () => {
    const cat = catalog();
    try {
      prepareSameDeviceGroups(cat.db, undefined, false, 'rows');
      const steps = (
        cat.db.prepare(`EXPLAIN QUERY PLAN ${SAME_GROUP_MEMBERS_SQL}`).all(0, 10) as {
          detail: string;
        }[]
      ).map((r) => r.detail);
      expect(steps[0]).toMatch(/^SEARCH g USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
      expect(steps[1]).toBe(
        'SEARCH f USING INDEX files_hashed (sha256=? AND device_id=? AND size=?)',
      );
    } finally {
      await cat.close();
    }
  });
});
