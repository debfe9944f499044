/**
 * The members of a page of prepared same-device groups, in one statement. Plan reads every
 * group's members; one query per group (~12,000 on the reference tree) cost ~26 µs each, most of
 * it the statement's round trip rather than its rows.
 *
 * Members come in the order the one-group query gives them (groupMembers), which plans depend
 * on (keep rules break ties by it): that query searches files_hashed (sha256, device_id, size,
 * inode), so a group's members are in inode order, then row id. The ORDER BY says so; the CROSS
 * JOIN keeps the page's groups the outer loop, each one index search
 * (test/unit/group-member-page.test.ts holds both).
 */
import type { DB } from './db.js';
import { memberOf, type Member } from './groups.js';
import { stmt } from './stmt.js';

export const SAME_GROUP_MEMBERS_SQL = `
  SELECT g.row_id, f.id, f.device_id,
         CAST(CASE WHEN d.path = X'2f' THEN X'2f' || f.name ELSE d.path || X'2f' || f.name END AS BLOB),
         f.inode, f.nlink, f.size, f.mtime_ns, f.ctime_ns, f.mode, f.uid, f.gid, f.sha256
    FROM temp.same_groups g
   CROSS JOIN files f
    JOIN dirs d ON d.id = f.dir_id
   WHERE g.row_id > ? AND g.row_id <= ?
     AND f.sha256 = g.sha256 AND f.device_id = g.device_id AND f.size = g.size
     AND f.status = 'active'
   ORDER BY g.row_id, f.inode, f.id`;

/**
 * The active paths of the groups with row ids in (afterRowId, lastRowId], by row id; a group
 * whose paths have all gone since it was prepared is absent.
 */
export function sameGroupMembers(
  db: DB,
  afterRowId: number,
  lastRowId: number,
): Map<number, Member[]> {
  const rows = stmt(db, SAME_GROUP_MEMBERS_SQL)
    .safeIntegers(true)
    .raw(true)
    .all(afterRowId, lastRowId) as unknown[][];
  const byGroup = new Map<number, Member[]>();
  let rowId = -1;
  let members: Member[] = [];
  for (const a of rows) {
    const r = Number(a[0] as bigint);
    if (r !== rowId) {
      rowId = r;
      members = [];
      byGroup.set(r, members);
    }
    members.push(memberOf(a, 1));
  }
  return byGroup;
}
