/**
 * Catalog figures (`hashall stats`) and the export of every file on PostgreSQL, with the
 * semantics of ../stats.ts and ../file-export.ts. The export reads keyset pages — the rows
 * after the last (device, directory path, name) of the previous page, in that order, LIMIT
 * the page size — so neither the client nor a long-open transaction holds the catalog.
 */
import type pg from 'pg';
import type { Int } from './query-sql.js';
import type { ExportFileRow } from '../file-export.js';
import type { CatalogStats } from '../stats.js';
import type { ExportQueries, StatsQueries } from '../query-port.js';
import { pgDeviceRecords } from './records.js';

async function catalogStats(client: pg.Client): Promise<CatalogStats> {
  const r = await client.query<Record<string, Int>>(
    `SELECT
       (SELECT count(*) FROM devices) AS devices,
       (SELECT count(*) FROM files WHERE status = 'active') AS active_files,
       (SELECT count(*) FROM files WHERE status = 'deleted') AS deleted_files,
       (SELECT count(*) FROM (SELECT DISTINCT device_id, inode FROM files WHERE status = 'active') i) AS active_inodes,
       (SELECT coalesce(sum(size), 0) FROM (SELECT max(size) AS size FROM files WHERE status = 'active'
                                              GROUP BY device_id, inode) i) AS active_bytes,
       (SELECT coalesce(sum(blocks), 0) * 512 FROM (SELECT max(blocks) AS blocks FROM files WHERE status = 'active'
                                              GROUP BY device_id, inode) i) AS allocated_bytes,
       (SELECT count(*) FROM files WHERE status = 'active' AND size = 0) AS empty_files,
       (SELECT count(*) FROM files WHERE status = 'active' AND prefix_hash IS NOT NULL) AS prefix_hashed,
       (SELECT count(*) FROM files WHERE status = 'active' AND suffix_hash IS NOT NULL) AS suffix_hashed,
       (SELECT count(*) FROM files WHERE status = 'active' AND sha256 IS NOT NULL) AS full_hashed,
       -- Directories a scan listed, or found in a listing (as ../stats.ts).
       (SELECT count(*) FROM dirs d LEFT JOIN dirs p ON p.id = d.parent_id
         WHERE d.status = 'active'
           AND (d.last_listed_scan IS NOT NULL OR p.last_listed_scan IS NOT NULL)) AS dirs,
       (SELECT count(*) FROM scans) AS scans`,
  );
  const s = r.rows[0]!;
  const n = (k: string) => Number(s[k]);
  return {
    devices: n('devices'),
    activeFiles: n('active_files'),
    deletedFiles: n('deleted_files'),
    activeInodes: n('active_inodes'),
    activeBytes: n('active_bytes'),
    allocatedBytes: n('allocated_bytes'),
    emptyFiles: n('empty_files'),
    prefixHashed: n('prefix_hashed'),
    suffixHashed: n('suffix_hashed'),
    fullHashed: n('full_hashed'),
    dirs: n('dirs'),
    scans: n('scans'),
  };
}

/**
 * SQLite's integrity_check reads its database file; here the server owns the storage, and its
 * structural check is the amcheck extension (contrib, in Debian's postgresql package). When a
 * database administrator has installed it, every B-tree index of the catalog's tables is
 * checked against its heap; without it there is nothing a client can check, and no problem is
 * reported (README "Several hosts" says so).
 */
async function integrityProblems(client: pg.Client, max: number): Promise<string[]> {
  const ext = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'amcheck'`);
  if (ext.rowCount === 0) return [];
  const idx = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_am am ON am.oid = c.relam
      WHERE am.amname = 'btree' AND t.relnamespace = current_schema()::regnamespace
        AND t.relpersistence = 'p'
      ORDER BY c.relname`,
  );
  const problems: string[] = [];
  for (const { name } of idx.rows) {
    if (problems.length >= max) break;
    try {
      await client.query('SELECT bt_index_check($1::regclass, true)', [name]);
    } catch (err) {
      problems.push(`index ${name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

export function pgStatsQueries(client: pg.Client): StatsQueries {
  return {
    catalog: () => catalogStats(client),
    deviceUsage: async () => new Map(await pgDeviceRecords(client).usage()),
    integrityProblems: (q) => integrityProblems(client, q.max),
  };
}

type ExportArray = [Int, Buffer, Buffer, string, Int, Int, string, Buffer | null];

/** Where the previous page ended: the next page starts strictly after it. */
interface ExportKey {
  readonly deviceId: number;
  readonly dirPath: Buffer;
  readonly name: Buffer;
}

/**
 * One page of the export after `from`. The (device_id, path) row comparison is an index
 * condition on dirs' unique (device_id, path): the server walks directories from there in
 * order and, per directory, its files by the unique (dir_id, name) index.
 */
async function exportPage(
  client: pg.Client,
  deviceId: number | undefined,
  from: ExportKey | undefined,
  limit: number,
): Promise<ExportFileRow[]> {
  const where: string[] = [`f.status = 'active'`];
  const values: unknown[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  if (deviceId !== undefined) where.push(`d.device_id = ${param(deviceId)}`);
  if (from) {
    const dev = param(from.deviceId);
    const path = param(from.dirPath);
    const name = param(from.name);
    where.push(`(d.device_id, d.path) >= (${dev}, ${path})`);
    where.push(`((d.device_id, d.path) > (${dev}, ${path}) OR f.name > ${name})`);
  }
  const r = await client.query<ExportArray>({
    text: `SELECT d.device_id, d.path, f.name, f.inode, f.nlink, f.size, f.mtime_ns, f.sha256
             FROM dirs d JOIN files f ON f.dir_id = d.id
            WHERE ${where.join(' AND ')}
            ORDER BY d.device_id, d.path, f.name
            LIMIT ${param(limit)}`,
    values,
    rowMode: 'array',
  });
  return r.rows.map((a) => ({
    deviceId: Number(a[0]),
    dirPath: a[1],
    name: a[2],
    inode: BigInt(a[3]),
    nlink: Number(a[4]),
    size: Number(a[5]),
    mtimeNs: BigInt(a[6]),
    sha256: a[7],
  }));
}

async function* exportFiles(
  client: pg.Client,
  deviceId: number | undefined,
  pageSize: number,
): AsyncGenerator<readonly ExportFileRow[], void, undefined> {
  const size = Math.max(1, pageSize);
  let from: ExportKey | undefined;
  for (;;) {
    const page = await exportPage(client, deviceId, from, size);
    if (page.length === 0) return;
    yield page;
    if (page.length < size) return;
    const last = page[page.length - 1]!;
    from = { deviceId: last.deviceId, dirPath: last.dirPath, name: last.name };
  }
}

export function pgExportQueries(client: pg.Client): ExportQueries {
  return {
    files: ({ deviceId, pageSize }) => exportFiles(client, deviceId, pageSize),
  };
}
