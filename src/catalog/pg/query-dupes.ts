/**
 * `hashall dupes` on PostgreSQL, with the semantics of ../dupes.ts: the groups materialised
 * once into a temporary table numbered in listing order (largest savings first), read a page
 * at a time; the paths of a page's groups come from one statement. Memory is that of a page.
 */
import type pg from 'pg';
import { pgLimit, type Int } from './query-sql.js';
import type { DupeGroupKey, DupePath, DupeRowFilter } from '../dupes.js';
import type { DupeGroupRows, DupeListing, DupeQueries } from '../query-port.js';
import { applyPgScope, pgScopeClause } from './query-scope.js';
import { pgDirtiness, storedGroupsSql } from './stored-totals.js';

/** The row filter as SQL over `files` columns, its parameters numbered from `first`. */
function rowWhere(f: DupeRowFilter, first: number): { sql: string; params: unknown[] } {
  const parts: string[] = [`status = 'active'`, 'sha256 IS NOT NULL', 'size > 0'];
  const params: unknown[] = [];
  const add = (cond: string, value: unknown) => {
    params.push(value);
    parts.push(`${cond} $${first + params.length - 1}`);
  };
  if (f.deviceId !== undefined) add('device_id =', f.deviceId);
  if (f.minSize !== undefined) add('size >=', f.minSize);
  if (f.maxSize !== undefined) add('size <=', f.maxSize);
  if (f.mtimeSince !== undefined) add('mtime_ns >=', f.mtimeSince.toString());
  if (f.mtimeBefore !== undefined) add('mtime_ns <', f.mtimeBefore.toString());
  return { sql: `${parts.join(' AND ')} ${pgScopeClause(f.scoped)}`, params };
}

/**
 * A listing of same-device groups whose filter applies to whole keys (a device, size bounds:
 * every row of a key has its device and size) lists the stored group totals: files are the
 * key's inodes, paths its paths. mtime bounds and scopes keep some rows of a key, and
 * cross-device groups span keys: those group the rows.
 */
const fromStoredTotals = (f: DupeRowFilter): boolean =>
  !f.crossDevice && !f.scoped && f.mtimeSince === undefined && f.mtimeBefore === undefined;

async function prepareStoredDupes(client: pg.Client, f: DupeRowFilter): Promise<number> {
  const where = [
    f.deviceId === undefined ? '' : `AND device_id = ${Number(f.deviceId)}`,
    f.minSize === undefined ? '' : `AND size >= ${Number(f.minSize)}`,
    f.maxSize === undefined ? '' : `AND size <= ${Number(f.maxSize)}`,
  ].join(' ');
  const r = await client.query(
    `INSERT INTO pg_temp.dupe_groups
     SELECT row_number() OVER (ORDER BY (inodes - 1) * size DESC, sha256, device_id),
            device_id, sha256, size, inodes, paths
       FROM (${storedGroupsSql(await pgDirtiness(client), where)}) g`,
  );
  return r.rowCount ?? 0;
}

/** Fill pg_temp.dupe_groups, largest savings (size × (files − 1)) first; returns the count. */
async function prepareDupes(client: pg.Client, f: DupeRowFilter): Promise<number> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.dupe_groups;
    CREATE TEMP TABLE dupe_groups (row_id bigint PRIMARY KEY, device_id bigint, sha256 bytea,
      size bigint, files bigint, paths bigint)`);
  if (fromStoredTotals(f)) return prepareStoredDupes(client, f);
  const { sql, params } = rowWhere(f, 1);
  const dev = f.crossDevice ? 'NULL::bigint' : 'device_id';
  const by = f.crossDevice ? 'sha256, size' : 'sha256, device_id, size';
  const tie = f.crossDevice ? 'size' : 'device_id';
  const r = await client.query(
    `INSERT INTO pg_temp.dupe_groups
     SELECT row_number() OVER (ORDER BY (files - 1) * size DESC, sha256, ${tie}), *
       FROM (SELECT ${dev} AS device_id, sha256, size, count(*) AS files, sum(paths)::bigint AS paths
               FROM (SELECT device_id, sha256, size, inode, count(*) AS paths
                       FROM files WHERE ${sql}
                      GROUP BY sha256, device_id, size, inode) per_inode
              GROUP BY ${by}
             HAVING count(*) > 1) g`,
    params,
  );
  return r.rowCount ?? 0;
}

async function groupPage(client: pg.Client, after: number, limit: number): Promise<DupeGroupKey[]> {
  const r = await client.query<{
    row_id: Int;
    device_id: Int | null;
    sha256: Buffer;
    size: Int;
    files: Int;
    paths: Int;
  }>('SELECT * FROM pg_temp.dupe_groups WHERE row_id > $1 ORDER BY row_id LIMIT $2', [
    after,
    pgLimit(limit),
  ]);
  return r.rows.map((g) => ({
    rowId: Number(g.row_id),
    deviceId: g.device_id === null ? null : Number(g.device_id),
    sha256: g.sha256,
    size: Number(g.size),
    files: Number(g.files),
    paths: Number(g.paths),
  }));
}

/** The paths of each group that pass the filter, by device, inode, then path bytes. */
async function pathsOf(
  client: pg.Client,
  keys: readonly DupeGroupKey[],
  f: DupeRowFilter,
): Promise<DupePath[][]> {
  const out: DupePath[][] = keys.map(() => []);
  if (keys.length === 0) return out;
  // A listing's groups are all of one device each or all cross-device: an equality the
  // files_hashed index can use, rather than an OR it can only filter with.
  const sameDevice = f.crossDevice ? '' : 'AND device_id = k.device_id';
  const { sql, params } = rowWhere(f, 4);
  // The filter's columns are the view's (file_paths has every files column).
  const r = await client.query<[Int, Int, Buffer, string, Int, string]>({
    text: `SELECT k.ord, p.device_id, p.path, p.inode, p.nlink, p.mtime_ns
             FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS k(sha256, size, device_id, ord)
             JOIN LATERAL (SELECT device_id, path, inode, nlink, mtime_ns FROM file_paths
                            WHERE sha256 = k.sha256 AND size = k.size
                              ${sameDevice} AND ${sql}) p ON true
            ORDER BY k.ord, p.device_id, p.inode, p.path`,
    values: [
      keys.map((k) => k.sha256),
      keys.map((k) => k.size),
      keys.map((k) => k.deviceId),
      ...params,
    ],
    rowMode: 'array',
  });
  for (const a of r.rows) {
    out[Number(a[0]) - 1]!.push({
      deviceId: Number(a[1]),
      path: a[2],
      inode: BigInt(a[3]),
      nlink: Number(a[4]),
      mtimeNs: BigInt(a[5]),
    });
  }
  return out;
}

export function pgDupeQueries(client: pg.Client): DupeQueries {
  return {
    async prepare(q): Promise<DupeListing> {
      const { scope, ...bounds } = q;
      const filter: DupeRowFilter = { ...bounds, scoped: await applyPgScope(client, scope) };
      const groups = await prepareDupes(client, filter);
      return {
        groups,
        async page({ afterRowId, groups: most, paths: budget }) {
          const keys: DupeGroupKey[] = [];
          let paths = 0;
          for (const key of await groupPage(client, afterRowId, most)) {
            // key.paths counts exactly the rows pathsOf returns: stop before the budget.
            if (keys.length > 0 && paths + key.paths > budget) break;
            keys.push(key);
            paths += key.paths;
          }
          const all = await pathsOf(client, keys, filter);
          return keys.map((key, i): DupeGroupRows => ({ key, paths: all[i]! }));
        },
      };
    },
  };
}
