/**
 * Duplicate groups on PostgreSQL, with the semantics of ../groups.ts: each grouping is
 * materialised into a temporary table of the connection, numbered in listing order
 * (row_number() over the listing's ORDER BY, so the numbering does not depend on the order an
 * INSERT happens to write rows in), then read a page at a time after a row number. The server
 * sorts, spilling to its temporary files, never to our heap. Members come for a whole page of
 * groups in one statement.
 *
 * int8 columns arrive as text from pg: counts and sizes fit a double, inodes and times are
 * BigInts as SQLite's safe integers give them.
 */
import type pg from 'pg';
import { pgLimit, type Int } from './query-sql.js';
import {
  classesFilter,
  SAME_GROUPS_TOTALS,
  type CrossKey,
  type GroupClasses,
  type GroupKey,
  type Member,
  type OneClassTotals,
} from '../groups.js';
import type {
  CrossDeviceGroups,
  GroupQueries,
  HardlinkTotals,
  SameDeviceGroups,
} from '../query-port.js';
import { applyPgScope, pgScopeClause } from './query-scope.js';
import { pgUnitOfWork } from './tx.js';
import { readAhead } from './read-ahead.js';
import { groupingSourceOf, type GroupingSource } from '../group-totals.js';
import { pgDirtiness, storedGroupsSql, TOTALS_COLUMNS } from './stored-totals.js';

const deviceFilter = (deviceId: number | undefined, col = 'device_id') =>
  deviceId === undefined ? '' : `AND ${col} = ${Number(deviceId)}`;

/** Where a grouping comes from: the stored totals where they apply, or every row. */
export type PgGroupingFrom = 'stored-totals' | 'rows';

/**
 * Fill pg_temp.same_groups, largest saving first (as prepareSameDeviceGroups). Unscoped, from
 * the stored totals (./stored-totals.ts: clean keys as stored, dirty keys regrouped); a scope
 * counts only some of a group's rows (a link outside it pins): every row in it is grouped.
 */
export async function prepareSame(
  client: pg.Client,
  deviceId: number | undefined,
  scoped: boolean,
  from: PgGroupingFrom = 'stored-totals',
): Promise<{
  groups: number;
  saveable: number;
  pinnedInodes: number;
  oneClass: OneClassTotals;
  source: GroupingSource;
}> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.same_groups;
    CREATE TEMP TABLE same_groups (row_id bigint PRIMARY KEY, device_id bigint, sha256 bytea,
      size bigint, inodes bigint, paths bigint, pinned bigint, classes bigint, saveable bigint)`);
  const source: GroupingSource =
    scoped || from === 'rows'
      ? await groupEveryRow(client, deviceId, scoped)
      : await groupStored(client, deviceId);
  const r = await client.query<{
    groups: Int;
    saveable: Int;
    pinned: Int;
    one_groups: Int;
    one_blocked: Int;
    one_saveable: Int;
    one_pinned: Int;
  }>(`SELECT ${SAME_GROUPS_TOTALS} FROM pg_temp.same_groups`);
  const t = r.rows[0]!;
  return {
    groups: Number(t.groups),
    saveable: Number(t.saveable),
    pinnedInodes: Number(t.pinned),
    oneClass: {
      groups: Number(t.one_groups),
      blocked: Number(t.one_blocked),
      saveable: Number(t.one_saveable),
      pinned: Number(t.one_pinned),
    },
    source,
  };
}

/** pg_temp.same_groups from the stored totals, in listing order. */
async function groupStored(
  client: pg.Client,
  deviceId: number | undefined,
): Promise<GroupingSource> {
  const dirty = await pgDirtiness(client);
  await client.query(
    `INSERT INTO pg_temp.same_groups
     SELECT row_number() OVER (ORDER BY saveable DESC, device_id, sha256), ${TOTALS_COLUMNS}
       FROM (${storedGroupsSql(dirty, deviceFilter(deviceId))}) g`,
  );
  return groupingSourceOf(dirty);
}

/** pg_temp.same_groups from every row (in scope): what the stored totals must equal. */
async function groupEveryRow(
  client: pg.Client,
  deviceId: number | undefined,
  scoped: boolean,
): Promise<GroupingSource> {
  // The grouped rows, as columns of `files` named with the prefix `p`.
  const rows = (p: string) =>
    `${p}status = 'active' AND ${p}sha256 IS NOT NULL AND ${p}size > 0
     ${deviceFilter(deviceId, `${p}device_id`)} ${pgScopeClause(scoped, `${p}dir_id`)}`;
  // Two passes. The keys with two or more inodes need only the columns of files_hashed: an
  // index-only scan in grouping order, no heap page read for the many unique contents. Only
  // the rows of those groups are then read whole (links, owner, mode).
  await client.query(
    `INSERT INTO pg_temp.same_groups
     SELECT row_number() OVER (ORDER BY saveable DESC, device_id, sha256), *
       FROM (SELECT device_id, sha256, size, count(*) AS inodes, sum(paths)::bigint AS paths,
                    sum((nlink > paths)::int)::bigint AS pinned, count(DISTINCT class) AS classes,
                    (count(*) - greatest(sum((nlink > paths)::int), 1)) * size AS saveable
               FROM (SELECT f.device_id, f.sha256, f.size, f.inode, max(f.nlink) AS nlink, count(*) AS paths,
                            max(f.mode) || ':' || max(f.uid) || ':' || max(f.gid) AS class
                       FROM (SELECT sha256, device_id, size FROM files WHERE ${rows('')}
                              GROUP BY sha256, device_id, size
                             HAVING min(inode) <> max(inode)) k
                       JOIN files f ON f.sha256 = k.sha256 AND f.device_id = k.device_id AND f.size = k.size
                      WHERE ${rows('f.')}
                      GROUP BY f.sha256, f.device_id, f.size, f.inode) per_inode
              GROUP BY sha256, device_id, size) g`,
  );
  return { kind: 'regrouped' };
}

/** A same_groups row as an array (rowMode 'array'), in its column order. */
type SameGroupArray = [Int, Int, Buffer, Int, Int, Int, Int, Int, Int];

async function samePage(
  client: pg.Client,
  after: number,
  limit: number,
  classes?: GroupClasses,
): Promise<GroupKey[]> {
  // As arrays: a plan reads every group (11,838 on the reference tree), and an object per
  // row for the driver to build and the collector to free is time a command's start pays.
  const r = await client.query<SameGroupArray>({
    text: `SELECT row_id, device_id, sha256, size, inodes, paths, pinned, classes, saveable
             FROM pg_temp.same_groups WHERE row_id > $1 ${classesFilter(classes)}
            ORDER BY row_id LIMIT $2`,
    values: [after, pgLimit(limit)],
    rowMode: 'array',
  });
  return r.rows.map((g) => ({
    rowId: Number(g[0]),
    deviceId: Number(g[1]),
    sha256: g[2],
    size: Number(g[3]),
    inodes: Number(g[4]),
    paths: Number(g[5]),
    pinned: Number(g[6]),
    classes: Number(g[7]),
    saveable: Number(g[8]),
  }));
}

/** Fill pg_temp.cross_groups: contents on two or more devices (as prepareCrossDeviceGroups). */
async function prepareCross(
  client: pg.Client,
  deviceId: number | undefined,
  scoped: boolean,
): Promise<{ groups: number; bytes: number }> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.cross_groups;
    CREATE TEMP TABLE cross_groups (row_id bigint PRIMARY KEY, sha256 bytea, size bigint,
      devices bigint, copies bigint)`);
  const rows = (p: string) =>
    `${p}status = 'active' AND ${p}sha256 IS NOT NULL AND ${p}size > 0 ${pgScopeClause(scoped, `${p}dir_id`)}`;
  const having = deviceId === undefined ? '' : `AND bool_or(device_id = ${Number(deviceId)})`;
  // One pass over the files_hashed index alone (sha256, device_id, size, inode: every column a
  // content's devices and copies need), no table read, streamed in index order: the copies
  // (distinct inodes) per device, then per content, whose devices come sorted by content
  // already (an incremental sort on size within each hash). The planner, which underestimates
  // the per-device rows, would hash them instead and spill to disk: hashing is off for this
  // one statement. Against two passes (the contents spanning devices, then a join fetching
  // their copies), back to back: 2.1 s against 4.3 s at 1M rows, 18–24 s against 44–45 s at
  // 10M (bench/pg-large.mjs, a loaded machine).
  await pgUnitOfWork(client, async () => {
    const was = await client.query<{ v: string }>(`SELECT current_setting('enable_hashagg') AS v`);
    await client.query('SET LOCAL enable_hashagg = off');
    await client.query(
      `INSERT INTO pg_temp.cross_groups
       SELECT row_number() OVER (ORDER BY size * (devices - 1) DESC, sha256), *
         FROM (SELECT sha256, size, count(*) AS devices, sum(copies)::bigint AS copies
                 FROM (SELECT sha256, device_id, size, count(*) AS copies
                         FROM (SELECT sha256, device_id, size, inode FROM files WHERE ${rows('')}
                                GROUP BY sha256, device_id, size, inode) per_inode
                        GROUP BY sha256, device_id, size) per_device
                GROUP BY sha256, size
               HAVING count(*) > 1 ${having}) g`,
    );
    await client.query(`SELECT set_config('enable_hashagg', $1, true)`, [was.rows[0]!.v]);
  });
  const r = await client.query<{ groups: Int; bytes: Int }>(
    `SELECT count(*) AS groups, coalesce(sum(size * (devices - 1)), 0) AS bytes FROM pg_temp.cross_groups`,
  );
  return { groups: Number(r.rows[0]!.groups), bytes: Number(r.rows[0]!.bytes) };
}

async function crossPage(client: pg.Client, after: number, limit: number): Promise<CrossKey[]> {
  const r = await client.query<{
    row_id: Int;
    sha256: Buffer;
    size: Int;
    devices: Int;
    copies: Int;
  }>('SELECT * FROM pg_temp.cross_groups WHERE row_id > $1 ORDER BY row_id LIMIT $2', [
    after,
    pgLimit(limit),
  ]);
  return r.rows.map((g) => ({
    rowId: Number(g.row_id),
    sha256: g.sha256,
    size: Number(g.size),
    devices: Number(g.devices),
    copies: Number(g.copies),
  }));
}

/** A member row as arrays (rowMode 'array'): the key's position first, then the columns. */
type MemberArray = [Int, Int, Int, Buffer, string, Int, Int, string, string, Int, Int, Int, Buffer];

/**
 * The active paths of each key, in the order given, from one statement. Within a key, rows come
 * in SQLite's order (its files_hashed index: device, inode, then row id).
 */
async function membersOf(
  client: pg.Client,
  keys: readonly { sha256: Buffer; size: number; deviceId: number | null }[],
  on: 'its-device' | 'any-device',
): Promise<Member[][]> {
  const out: Member[][] = keys.map(() => []);
  if (keys.length === 0) return out;
  // The key's device (a same-device group) or any (a content): an equality the files_hashed
  // index can use, rather than an OR it could only filter with.
  const sameDevice = on === 'its-device' ? 'AND f.device_id = k.device_id' : '';
  const r = await client.query<MemberArray>({
    text: `SELECT k.ord, f.id, f.device_id, f.path, f.inode, f.nlink, f.size, f.mtime_ns, f.ctime_ns,
                  f.mode, f.uid, f.gid, f.sha256
             FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS k(sha256, size, device_id, ord)
             JOIN file_paths f ON f.sha256 = k.sha256 AND f.size = k.size
                              ${sameDevice}
            WHERE f.status = 'active'
            ORDER BY k.ord, f.device_id, f.inode, f.id`,
    values: [keys.map((k) => k.sha256), keys.map((k) => k.size), keys.map((k) => k.deviceId)],
    rowMode: 'array',
  });
  for (const a of r.rows) {
    out[Number(a[0]) - 1]!.push({
      fileId: Number(a[1]),
      deviceId: Number(a[2]),
      path: a[3],
      inode: BigInt(a[4]),
      nlink: Number(a[5]),
      size: Number(a[6]),
      mtimeNs: BigInt(a[7]),
      ctimeNs: BigInt(a[8]),
      mode: Number(a[9]),
      uid: Number(a[10]),
      gid: Number(a[11]),
      sha256: a[12],
    });
  }
  return out;
}

async function emptyFiles(client: pg.Client, deviceId: number | undefined, scoped: boolean) {
  const r = await client.query<{ n: Int }>(
    `SELECT count(*) AS n FROM files WHERE status = 'active' AND size = 0 ${deviceFilter(deviceId)}
            ${pgScopeClause(scoped)}`,
  );
  return Number(r.rows[0]!.n);
}

async function hardlinks(client: pg.Client, deviceId: number | undefined): Promise<HardlinkTotals> {
  const r = await client.query<{ shared: Int; inodes: Int; saved: Int }>(
    `SELECT coalesce(sum(paths), 0) AS shared, count(*) AS inodes,
            coalesce(sum((paths - 1) * size), 0) AS saved
       FROM (SELECT count(*) AS paths, max(size) AS size FROM files
              WHERE status = 'active' ${deviceFilter(deviceId)}
              GROUP BY device_id, inode HAVING count(*) > 1) linked`,
  );
  const t = r.rows[0]!;
  return { sharedPaths: Number(t.shared), inodes: Number(t.inodes), bytesSaved: Number(t.saved) };
}

export function pgGroupQueries(client: pg.Client): GroupQueries {
  return {
    async sameDevice(q): Promise<SameDeviceGroups> {
      const t = await prepareSame(client, q.deviceId, await applyPgScope(client, q.scope));
      return {
        ...t,
        page: readAhead((after, limit) => samePage(client, after, limit)),
        // No read-ahead: it needs consecutive row ids, and these pages skip some.
        pageOf: (classes, after, limit) => samePage(client, after, limit, classes),
      };
    },
    async crossDevice(q): Promise<CrossDeviceGroups> {
      const t = await prepareCross(client, q.deviceId, await applyPgScope(client, q.scope));
      return { ...t, page: readAhead((after, limit) => crossPage(client, after, limit)) };
    },
    members: (groups) => membersOf(client, groups, 'its-device'),
    contentMembers: (contents) =>
      membersOf(
        client,
        contents.map((c) => ({ sha256: c.sha256, size: c.size, deviceId: null })),
        'any-device',
      ),
    emptyFiles: async (q) => emptyFiles(client, q.deviceId, await applyPgScope(client, q.scope)),
    hardlinks: (q) => hardlinks(client, q.deviceId),
  };
}
