/**
 * Read-only, streamed listing of every active file row, for `hashall export`. Rows come in
 * index order (device, directory path, name): the query walks the dirs index and, per
 * directory, the files index, so SQLite never sorts or buffers the whole catalog.
 */
import type { DB } from './db.js';

export interface ExportFileRow {
  readonly deviceId: number;
  /** The directory's path inside its filesystem ('/'-led). */
  readonly dirPath: Buffer;
  readonly name: Buffer;
  readonly inode: bigint;
  readonly nlink: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly sha256: Buffer | null;
}

interface RawRow {
  device_id: bigint;
  dir_path: Buffer;
  name: Buffer;
  inode: bigint;
  nlink: bigint;
  size: bigint;
  mtime_ns: bigint;
  sha256: Buffer | null;
}

function exportSql(byDevice: boolean): string {
  // CROSS JOIN fixes the loop order (dirs outside, files inside), so both indexes give the
  // rows already sorted; without it the planner may pick a files index and sort everything.
  return `SELECT d.device_id, d.path AS dir_path, f.name, f.inode, f.nlink, f.size, f.mtime_ns, f.sha256
            FROM dirs d CROSS JOIN files f ON f.dir_id = d.id
           WHERE f.status = 'active' ${byDevice ? 'AND d.device_id = ?' : ''}
           ORDER BY d.device_id, d.path, f.name`;
}

/** Every active file, optionally of one device only. */
export function* iterateActiveFiles(
  db: DB,
  deviceId?: number,
): Generator<ExportFileRow, void, undefined> {
  const st = db.prepare(exportSql(deviceId !== undefined)).safeIntegers(true);
  const it = (
    deviceId === undefined ? st.iterate() : st.iterate(deviceId)
  ) as IterableIterator<RawRow>;
  for (const r of it) {
    yield {
      deviceId: Number(r.device_id),
      dirPath: r.dir_path,
      name: r.name,
      inode: r.inode,
      nlink: Number(r.nlink),
      size: Number(r.size),
      mtimeNs: r.mtime_ns,
      sha256: r.sha256,
    };
  }
}

/** SQLite's query plan for the export (a test checks it never sorts). */
export function exportQueryPlan(db: DB, deviceId?: number): string[] {
  const st = db.prepare(`EXPLAIN QUERY PLAN ${exportSql(deviceId !== undefined)}`);
  const rows = (deviceId === undefined ? st.all() : st.all(deviceId)) as { detail: string }[];
  return rows.map((r) => r.detail);
}
