/**
 * `hashall dupes`: duplicate groups straight from the catalog, read-only. The groups are
 * materialised once into a temporary table in the order they are listed (largest savings
 * first; SQLite sorts there, spilling to its temporary file rather than to our heap), then read
 * a page at a time; each group's paths come from the files_hashed index. Memory is that of a
 * page and one group, however large the catalog.
 */
import type { DB } from './db.js';
import { scopeClause } from './scope.js';
import { stmt } from './stmt.js';
import { dupesFromStoredTotals, prepareStoredDupeGroups } from './dupe-totals.js';
import type { DupeRowFilter } from './dupe-filter.js';

export type { DupeRowFilter } from './dupe-filter.js';

export interface DupeGroupKey {
  readonly rowId: number;
  /** null for a cross-device group. */
  readonly deviceId: number | null;
  readonly sha256: Buffer;
  readonly size: number;
  /** Distinct files (inodes) and paths among the rows that passed. */
  readonly files: number;
  readonly paths: number;
}

export interface DupePath {
  readonly deviceId: number;
  readonly path: Buffer;
  readonly inode: bigint;
  readonly nlink: number;
  readonly mtimeNs: bigint;
}

function rowWhere(f: DupeRowFilter): { sql: string; params: unknown[] } {
  const parts: string[] = [`status = 'active'`, 'sha256 IS NOT NULL', 'size > 0'];
  const params: unknown[] = [];
  if (f.deviceId !== undefined) {
    parts.push('device_id = ?');
    params.push(f.deviceId);
  }
  if (f.minSize !== undefined) {
    parts.push('size >= ?');
    params.push(f.minSize);
  }
  if (f.maxSize !== undefined) {
    parts.push('size <= ?');
    params.push(f.maxSize);
  }
  if (f.mtimeSince !== undefined) {
    parts.push('mtime_ns >= ?');
    params.push(f.mtimeSince);
  }
  if (f.mtimeBefore !== undefined) {
    parts.push('mtime_ns < ?');
    params.push(f.mtimeBefore);
  }
  const scope = scopeClause(f.scoped);
  return { sql: `${parts.join(' AND ')} ${scope}`, params };
}

/** Fill temp.dupe_groups, largest savings (size × (files − 1)) first; returns the count. */
export function prepareDupeGroups(db: DB, f: DupeRowFilter): number {
  db.exec(`DROP TABLE IF EXISTS temp.dupe_groups;
           CREATE TEMP TABLE dupe_groups (row_id INTEGER PRIMARY KEY, device_id INTEGER,
             sha256 BLOB, size INTEGER, files INTEGER, paths INTEGER);`);
  if (dupesFromStoredTotals(f)) return prepareStoredDupeGroups(db, f);
  const { sql, params } = rowWhere(f);
  const dev = f.crossDevice ? 'NULL' : 'device_id';
  const by = f.crossDevice ? 'sha256, size' : 'sha256, device_id, size';
  return db
    .prepare(
      `INSERT INTO temp.dupe_groups (device_id, sha256, size, files, paths)
       SELECT ${dev}, sha256, size, count(*), sum(paths)
         FROM (SELECT device_id, sha256, size, inode, count(*) AS paths
                 FROM files INDEXED BY files_hashed
                WHERE ${sql}
                GROUP BY sha256, device_id, size, inode)
        GROUP BY ${by}
       HAVING count(*) > 1
        ORDER BY (count(*) - 1) * size DESC, sha256, ${f.crossDevice ? 'size' : 'device_id'}`,
    )
    .run(...params).changes;
}

export function dupeGroupPage(db: DB, afterRowId: number, limit: number): DupeGroupKey[] {
  return (
    stmt(db, 'SELECT * FROM temp.dupe_groups WHERE row_id > ? ORDER BY row_id LIMIT ?').all(
      afterRowId,
      limit,
    ) as {
      row_id: number;
      device_id: number | null;
      sha256: Buffer;
      size: number;
      files: number;
      paths: number;
    }[]
  ).map((r) => ({
    rowId: r.row_id,
    deviceId: r.device_id,
    sha256: r.sha256,
    size: r.size,
    files: r.files,
    paths: r.paths,
  }));
}

/** The paths of one group that pass the row filter, by device, inode, then path bytes. */
export function dupePaths(db: DB, g: DupeGroupKey, f: DupeRowFilter): DupePath[] {
  const { sql, params } = rowWhere(f);
  const dev = g.deviceId === null ? '' : 'AND device_id = ?';
  const rows = stmt(
    db,
    `SELECT device_id, path, inode, nlink, mtime_ns FROM file_paths
      WHERE sha256 = ? AND size = ? ${dev} AND ${sql}
      ORDER BY device_id, inode, path`,
  )
    .safeIntegers(true)
    .raw(true)
    .all(g.sha256, g.size, ...(g.deviceId === null ? [] : [g.deviceId]), ...params) as [
    bigint,
    Buffer,
    bigint,
    bigint,
    bigint,
  ][];
  return rows.map((r) => ({
    deviceId: Number(r[0]),
    path: r[1],
    inode: r[2],
    nlink: Number(r[3]),
    mtimeNs: r[4],
  }));
}
