/**
 * The groups planning reads, on PostgreSQL: PlanningOps of the plan port (../plan-port.ts) with
 * the semantics of ../groups.ts and ../scope.ts. Selections are session temporary tables of
 * the connection (scope_dirs, same_groups, link_only, cross_groups), numbered in the order
 * SQLite's rowids give them, so one connection plans one plan at a time, as SQLite's `temp`.
 * A page of groups comes with all its members in one query, never one query per group.
 *
 * Orders are SQLite's: bytea compares bytewise like BLOB; a group's members come by
 * (device, inode, row id), the order SQLite's indexes hand them over in, which keep rules
 * break ties by.
 */
import type pg from 'pg';
import type { Member } from '../groups.js';
import type { GroupKind, GroupPage, GroupSelection, PlanningOps, SizeRange } from '../plan-port.js';
import { exactRows } from './exact.js';
import { pgScopeClause, prepareScopeDirs } from './query-scope.js';
import { pgDirtiness, storedGroupsSql } from './stored-totals.js';

/** `AND col = $1` when one device is selected ($1 is the device id or NULL). */
const deviceClause = (sel: GroupSelection, col = 'device_id') =>
  sel.deviceId === undefined ? '' : `AND ${col} = $1`;

const deviceParam = (sel: GroupSelection) => (sel.deviceId === undefined ? [] : [sel.deviceId]);

async function selectSameDevice(client: pg.Client, sel: GroupSelection): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.same_groups;
                      CREATE TEMP TABLE same_groups (row_id bigint PRIMARY KEY, device_id bigint,
                        sha256 bytea, size bigint, inodes bigint, paths bigint, pinned bigint,
                        classes bigint, saveable bigint)`);
  // A group is (device, content, size) with two inodes or more; pinned: more links than the
  // catalog knows (in scope); classes: distinct (mode, owner, group). Largest saving first.
  // Unscoped: the stored totals (./stored-totals.ts; dirty keys regrouped, as on SQLite). A
  // plan is one unit of work, so it does not fold: a fold waits for other hosts' writers.
  const groups = sel.scoped
    ? undefined
    : storedGroupsSql(await pgDirtiness(client), deviceClause(sel));
  await client.query(
    `INSERT INTO pg_temp.same_groups
     SELECT row_number() OVER (ORDER BY g.saveable DESC, g.device_id, g.sha256, g.size), g.*
       FROM (${groups ?? everyRow(sel)}) g`,
    deviceParam(sel),
  );
  // link-only probes the groups by content once per multi-link inode.
  await client.query(`CREATE INDEX ON pg_temp.same_groups (sha256, device_id, size);
                      ANALYZE pg_temp.same_groups`);
}

/** Every row's same-device groups (in the selection's scope), as group_totals holds them. */
function everyRow(sel: GroupSelection): string {
  return `SELECT device_id, sha256, size, count(*) AS inodes, sum(paths) AS paths,
                    count(*) FILTER (WHERE nlink > paths) AS pinned, count(DISTINCT class) AS classes,
                    (count(*) - greatest(count(*) FILTER (WHERE nlink > paths), 1)) * size AS saveable
               FROM (SELECT device_id, sha256, size, inode, max(nlink) AS nlink, count(*) AS paths,
                            max(mode) || ':' || max(uid) || ':' || max(gid) AS class
                       FROM files
                      WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0
                            ${deviceClause(sel)} ${pgScopeClause(sel.scoped)}
                      GROUP BY sha256, device_id, size, inode) per_inode
              GROUP BY sha256, device_id, size
             HAVING count(*) > 1`;
}

async function selectLinkOnly(client: pg.Client, sel: GroupSelection): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.link_only;
                      CREATE TEMP TABLE link_only (row_id bigint PRIMARY KEY, device_id bigint,
                        inode bigint)`);
  // An inode's content: its one non-NULL hash (max() over bytea, as SQLite's, ignoring NULLs);
  // same_groups must have been selected first, as with SQLite.
  await client.query(
    `INSERT INTO pg_temp.link_only
     SELECT row_number() OVER (ORDER BY x.device_id, x.inode), x.device_id, x.inode
       FROM (SELECT f.device_id, f.inode,
                    (array_agg(f.sha256 ORDER BY f.sha256 DESC) FILTER (WHERE f.sha256 IS NOT NULL))[1]
                      AS sha256,
                    max(f.size) AS size
               FROM files f
              WHERE f.status = 'active' ${deviceClause(sel, 'f.device_id')}
                    ${pgScopeClause(sel.scoped, 'f.dir_id')}
              GROUP BY f.device_id, f.inode HAVING count(*) > 1) x
      WHERE NOT EXISTS (SELECT 1 FROM pg_temp.same_groups g
                         WHERE g.device_id = x.device_id AND g.sha256 = x.sha256 AND g.size = x.size)`,
    deviceParam(sel),
  );
}

async function selectCrossDevice(client: pg.Client, sel: GroupSelection): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.cross_groups;
                      CREATE TEMP TABLE cross_groups (row_id bigint PRIMARY KEY, sha256 bytea,
                        size bigint, devices bigint, copies bigint)`);
  // With a device: only contents that device holds a copy of.
  const having = sel.deviceId === undefined ? '' : 'AND count(*) FILTER (WHERE device_id = $1) > 0';
  await client.query(
    `INSERT INTO pg_temp.cross_groups
     SELECT row_number() OVER (ORDER BY size * (count(DISTINCT device_id) - 1) DESC, sha256),
            sha256, size, count(DISTINCT device_id), count(*)
       FROM (SELECT DISTINCT device_id, inode, sha256, size FROM files
              WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0
                    ${pgScopeClause(sel.scoped)}) copies
      GROUP BY sha256, size
     HAVING count(DISTINCT device_id) > 1 ${having}`,
    deviceParam(sel),
  );
}

interface RawMember {
  group_row: bigint;
  group_size: bigint | null;
  id: bigint | null;
  device_id: bigint;
  path: Buffer;
  inode: bigint;
  nlink: bigint;
  size: bigint;
  mtime_ns: bigint;
  ctime_ns: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  sha256: Buffer | null;
}

const toMember = (r: RawMember): Member => ({
  fileId: Number(r.id),
  deviceId: Number(r.device_id),
  path: r.path,
  inode: r.inode,
  nlink: Number(r.nlink),
  size: Number(r.size),
  mtimeNs: r.mtime_ns,
  ctimeNs: r.ctime_ns,
  mode: Number(r.mode),
  uid: Number(r.uid),
  gid: Number(r.gid),
  sha256: r.sha256,
});

/** Per kind: the page of keys, and how a key finds its members in file_paths (alias m). */
const PAGES: Record<GroupKind, { keys: string; size: string; match: string }> = {
  'same-device': {
    keys: 'SELECT row_id, device_id, sha256, size FROM pg_temp.same_groups',
    size: 'k.size',
    match: 'm.sha256 = k.sha256 AND m.size = k.size AND m.device_id = k.device_id',
  },
  'link-only': {
    keys: 'SELECT row_id, device_id, inode FROM pg_temp.link_only',
    size: 'NULL::int8',
    match: 'm.device_id = k.device_id AND m.inode = k.inode',
  },
  'cross-device': {
    keys: 'SELECT row_id, sha256, size FROM pg_temp.cross_groups',
    size: 'k.size',
    match: 'm.sha256 = k.sha256 AND m.size = k.size',
  },
};

const sizeIn = (r: SizeRange, size: number) =>
  (r.min === undefined || size >= r.min) && (r.max === undefined || size <= r.max);

/** A page of a selection with every group's members, in one query. */
async function page(
  client: pg.Client,
  q: { kind: GroupKind; after: number; limit: number; sizes: SizeRange },
): Promise<GroupPage> {
  const p = PAGES[q.kind];
  // LEFT JOIN LATERAL: a group whose members are gone still counts in the page (SQLite hands
  // it over empty).
  const rows = await exactRows<RawMember>(
    client,
    `SELECT k.row_id AS group_row, ${p.size} AS group_size, m.id, m.device_id, m.path, m.inode,
            m.nlink, m.size, m.mtime_ns, m.ctime_ns, m.mode, m.uid, m.gid, m.sha256
       FROM (${p.keys} WHERE row_id > $1 ORDER BY row_id LIMIT $2) k
       LEFT JOIN LATERAL (SELECT id, device_id, path, inode, nlink, size, mtime_ns, ctime_ns, mode,
                                 uid, gid, sha256
                            FROM file_paths m WHERE ${p.match} AND m.status = 'active') m ON true
      ORDER BY k.row_id, m.device_id, m.inode, m.id`,
    [q.after, q.limit],
  );
  const groups: Member[][] = [];
  let current: { row: bigint; size: number | undefined; members: Member[] } | undefined;
  const close = () => {
    if (!current) return;
    const size = current.size ?? current.members[0]?.size;
    if (size === undefined || sizeIn(q.sizes, size)) groups.push(current.members);
  };
  for (const r of rows) {
    if (current?.row !== r.group_row) {
      close();
      const size = r.group_size === null ? undefined : Number(r.group_size);
      current = { row: r.group_row, size, members: [] };
    }
    if (r.id !== null) current.members.push(toMember(r));
  }
  close();
  return { groups, next: current ? Number(current.row) : undefined };
}

export function pgPlanningOps(client: pg.Client): PlanningOps {
  return {
    restrictTo: (dirs) => prepareScopeDirs(client, dirs),
    select: (sel) =>
      sel.kind === 'same-device'
        ? selectSameDevice(client, sel)
        : sel.kind === 'link-only'
          ? selectLinkOnly(client, sel)
          : selectCrossDevice(client, sel),
    page: (q) => page(client, q),
  };
}
