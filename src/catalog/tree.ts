/**
 * Directory and file rows: the incremental merge of what a scan lists into the catalog.
 *
 * Deletions are never applied while a scan runs. A row that a completely listed directory no
 * longer holds is parked in a temporary table and marked deleted only when the scan finishes;
 * an interrupted or failed scan drops the parked rows, so it marks nothing deleted.
 */
import type { DB } from './db.js';
import type { ReadDigests } from './hashing.js';
import type { Statement } from 'better-sqlite3';
import { ROOT_PATH, byteKey, parentOf } from '../paths.js';

/**
 * A finished scan's moves: each row inserted by scan `?` whose (device, inode, size, mtime)
 * is a parked row's takes the hashes it lacks from it. The parked rows drive the join (CROSS
 * JOIN fixes SQLite's order): a temporary table has no statistics, and the planner had scanned
 * every active file of the catalog to probe the parked ones, ~4 ms on a rescan of 100,000
 * files that parked none (test/unit/query-plans.test.ts).
 */
export const PARKED_MOVES_SQL = `UPDATE files AS n
    SET prefix_hash = coalesce(n.prefix_hash, o.prefix_hash),
        suffix_hash = coalesce(n.suffix_hash, o.suffix_hash),
        sha256 = coalesce(n.sha256, o.sha256)
   FROM (SELECT f.device_id, f.inode, f.size, f.mtime_ns,
                max(f.prefix_hash) AS prefix_hash, max(f.suffix_hash) AS suffix_hash,
                max(f.sha256) AS sha256
           FROM temp.gone_files g CROSS JOIN files f ON f.id = g.file_id
          WHERE f.status = 'active'
          GROUP BY f.device_id, f.inode, f.size, f.mtime_ns) AS o
  WHERE n.first_seen_scan = ? AND n.status = 'active'
    AND n.device_id = o.device_id AND n.inode = o.inode AND n.size = o.size
    AND n.mtime_ns = o.mtime_ns
    AND n.id NOT IN (SELECT file_id FROM temp.gone_files)`;

/** What lstat says about a regular file, in the exact forms the catalog stores. */
export interface FileMeta {
  readonly inode: bigint; // as a signed 64-bit value, the form SQLite stores
  readonly nlink: number;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Allocated 512-byte blocks (st_blocks): a sparse file's real footprint. */
  readonly blocks: number;
}

export interface ExistingFile {
  readonly id: number;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly active: boolean;
}

export interface ExistingDir {
  readonly id: number;
  readonly name: Buffer;
}

export type MergeOutcome = 'new' | 'changed' | 'unchanged';

/** Prefix range for 'path is below dir': [dir + '/', dir + '0'), '0' being '/' + 1. */
export function descendantRange(dir: Buffer): [Buffer, Buffer] {
  if (dir.equals(ROOT_PATH)) return [ROOT_PATH, Buffer.from('0')];
  return [Buffer.concat([dir, Buffer.from('/')]), Buffer.concat([dir, Buffer.from('0')])];
}

export class TreeStore {
  private readonly selDir: Statement;
  private readonly insDir: Statement;
  private readonly reviveDir: Statement;
  private readonly listedDir: Statement;
  private readonly selFiles: Statement;
  private readonly selSubdirs: Statement;
  private readonly insFile: Statement;
  private readonly fileIdByName: Statement;
  private readonly updFile: Statement;
  private readonly parkFile: Statement;
  private readonly parkDir: Statement;

  constructor(
    private readonly db: DB,
    private readonly scanId: number,
  ) {
    db.exec(`
      CREATE TEMP TABLE IF NOT EXISTS gone_files (file_id INTEGER PRIMARY KEY);
      CREATE TEMP TABLE IF NOT EXISTS gone_dirs (dir_id INTEGER PRIMARY KEY);
      DELETE FROM temp.gone_files; DELETE FROM temp.gone_dirs;
    `);
    this.selDir = db.prepare('SELECT id, status FROM dirs WHERE device_id = ? AND path = ?');
    this.insDir = db.prepare(
      `INSERT INTO dirs (device_id, parent_id, path, status) VALUES (?, ?, ?, 'active')`,
    );
    this.reviveDir = db.prepare(`UPDATE dirs SET status = 'active', parent_id = ? WHERE id = ?`);
    this.listedDir = db.prepare('UPDATE dirs SET last_listed_scan = ? WHERE id = ?');
    this.selFiles = db
      .prepare(
        `SELECT id, name, inode, size, mtime_ns, ctime_ns, status = 'active' FROM files WHERE dir_id = ?`,
      )
      .raw(true)
      .safeIntegers(true);
    this.selSubdirs = db.prepare(
      `SELECT id, path FROM dirs WHERE parent_id = ? AND status = 'active'`,
    );
    this.insFile = db.prepare(
      `INSERT INTO files (device_id, dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid,
                          blocks, prefix_hash, suffix_hash, sha256, status, first_seen_scan, changed_scan)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)
       ON CONFLICT (dir_id, name) DO NOTHING`,
    );
    this.fileIdByName = db.prepare('SELECT id FROM files WHERE dir_id = ? AND name = ?');
    this.updFile = db.prepare(
      `UPDATE files SET inode = ?, nlink = ?, size = ?, mtime_ns = ?, ctime_ns = ?, mode = ?, uid = ?, gid = ?,
                        blocks = ?, prefix_hash = CASE WHEN ? THEN prefix_hash END,
                        suffix_hash = CASE WHEN ? THEN suffix_hash END,
                        sha256 = CASE WHEN ? THEN sha256 END,
                        status = 'active', changed_scan = ?, deleted_scan = NULL
        WHERE id = ?`,
    );
    this.parkFile = db.prepare('INSERT OR IGNORE INTO temp.gone_files (file_id) VALUES (?)');
    this.parkDir = db.prepare('INSERT OR IGNORE INTO temp.gone_dirs (dir_id) VALUES (?)');
  }

  /** The row of a directory, created (with its missing ancestors) when new. */
  ensureDir(deviceId: number, path: Buffer, parentId?: number): number {
    const row = this.selDir.get(deviceId, path) as { id: number; status: string } | undefined;
    if (row) {
      if (row.status !== 'active') {
        const pid = parentId ?? this.parentIdFor(deviceId, path);
        this.reviveDir.run(pid, row.id);
      }
      return row.id;
    }
    const pid = parentId ?? this.parentIdFor(deviceId, path);
    return Number(this.insDir.run(deviceId, pid, path).lastInsertRowid);
  }

  private parentIdFor(deviceId: number, path: Buffer): number | null {
    if (path.equals(ROOT_PATH)) return null;
    return this.ensureDir(deviceId, Buffer.from(parentOf(path)));
  }

  markListed(dirId: number): void {
    this.listedDir.run(this.scanId, dirId);
  }

  /** Every file row of a directory, deleted ones included (a path that comes back revives). */
  filesIn(dirId: number): Map<string, ExistingFile> {
    const map = new Map<string, ExistingFile>();
    // Raw rows: this runs for every directory of every rescan.
    for (const r of this.selFiles.all(dirId) as [
      bigint,
      Buffer,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
    ][]) {
      map.set(byteKey(r[1]), {
        id: Number(r[0]),
        inode: r[2],
        size: r[3],
        mtimeNs: r[4],
        ctimeNs: r[5],
        active: r[6] === 1n,
      });
    }
    return map;
  }

  subdirsOf(dirId: number): ExistingDir[] {
    return (this.selSubdirs.all(dirId) as { id: number; path: Buffer }[]).map((r) => ({
      id: r.id,
      name: r.path.subarray(r.path.lastIndexOf(0x2f) + 1),
    }));
  }

  /**
   * Insert the row of a file no row describes yet, with its hashes when they are already known
   * (hashed while the walk went on: one write instead of an insert and an update). Returns the
   * row id.
   *
   * A file taken by the walk's hashing is inserted in a later transaction than the one whose
   * merge found it without a row; another scan of an overlapping root may have inserted its row
   * in between (its own observation of the same path). That row is kept and its id returned:
   * both describe the same path, and one without hashes is picked up by the hash stages.
   */
  insertFile(
    deviceId: number,
    dirId: number,
    name: Buffer,
    meta: FileMeta,
    hashes?: ReadDigests,
  ): number {
    const r = this.insFile.run(
      deviceId,
      dirId,
      name,
      meta.inode,
      meta.nlink,
      meta.size,
      meta.mtimeNs,
      meta.ctimeNs,
      meta.mode,
      meta.uid,
      meta.gid,
      meta.blocks,
      hashes?.prefix ?? null,
      hashes?.suffix ?? null,
      hashes?.sha256 ?? null,
      this.scanId,
      this.scanId,
    );
    if (r.changes === 1) return Number(r.lastInsertRowid);
    const row = this.fileIdByName.get(dirId, name) as { id: number };
    return row.id;
  }

  /** Merge one listed regular file that has a row. Unchanged means (inode, size, mtime_ns, ctime_ns) equal. */
  mergeFile(meta: FileMeta, existing: ExistingFile): MergeOutcome {
    const same =
      existing.inode === meta.inode &&
      existing.size === meta.size &&
      existing.mtimeNs === meta.mtimeNs &&
      existing.ctimeNs === meta.ctimeNs;
    if (same && existing.active) return 'unchanged';
    // A deleted row whose identity is intact comes back with its hashes; anything else drops them.
    const keep = same ? 1 : 0;
    this.updFile.run(
      meta.inode,
      meta.nlink,
      meta.size,
      meta.mtimeNs,
      meta.ctimeNs,
      meta.mode,
      meta.uid,
      meta.gid,
      meta.blocks,
      keep,
      keep,
      keep,
      this.scanId,
      existing.id,
    );
    return existing.active ? 'changed' : 'new';
  }

  parkGoneFile(fileId: number): void {
    this.parkFile.run(fileId);
  }

  parkGoneDir(dirId: number): void {
    this.parkDir.run(dirId);
  }

  /**
   * Apply the parked deletions (a finished scan only). First, moves: a row inserted in this
   * scan that has the (device, inode, size, mtime_ns) of a parked row takes over the hashes it
   * lacks (it may have been hashed during the walk already: same inode, same content).
   * Returns how many active file rows were deleted and how many new rows were moves.
   */
  applyDeletions(): { deleted: number; moved: number } {
    const db = this.db;
    // Whole vanished directories: their subtrees join the parked files.
    const goneDirs = db
      .prepare(
        'SELECT d.id, d.device_id, d.path FROM temp.gone_dirs g JOIN dirs d ON d.id = g.dir_id',
      )
      .all() as { id: number; device_id: number; path: Buffer }[];
    const subtreeDirs = db.prepare(
      `SELECT id FROM dirs WHERE device_id = ? AND (id = ? OR (path >= ? AND path < ?))`,
    );
    const parkActiveIn = db.prepare(
      `INSERT OR IGNORE INTO temp.gone_files (file_id)
         SELECT id FROM files WHERE dir_id = ? AND status = 'active'`,
    );
    const delDir = db.prepare(`UPDATE dirs SET status = 'deleted' WHERE id = ?`);
    for (const g of goneDirs) {
      const [lo, hi] = descendantRange(g.path);
      for (const d of subtreeDirs.all(g.device_id, g.id, lo, hi) as { id: number }[]) {
        parkActiveIn.run(d.id);
        delDir.run(d.id);
      }
    }
    const moved = db.prepare(PARKED_MOVES_SQL).run(this.scanId).changes;
    const deleted = db
      .prepare(
        `UPDATE files SET status = 'deleted', deleted_scan = ?
          WHERE status = 'active' AND id IN (SELECT file_id FROM temp.gone_files)`,
      )
      .run(this.scanId).changes;
    this.discardParked();
    return { deleted, moved };
  }

  discardParked(): void {
    this.db.exec('DELETE FROM temp.gone_files; DELETE FROM temp.gone_dirs;');
  }
}
