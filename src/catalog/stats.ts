/** Catalog-wide figures for `hashall stats`. */
import type { DB } from './db.js';

export interface CatalogStats {
  readonly devices: number;
  readonly activeFiles: number;
  readonly deletedFiles: number;
  readonly activeInodes: number;
  readonly activeBytes: number;
  /** Bytes the active inodes occupy on disk (st_blocks × 512, each inode once). */
  readonly allocatedBytes: number;
  readonly emptyFiles: number;
  readonly prefixHashed: number;
  /** Files whose last 4 KiB were digested too (a prefix read of a file past 64 KiB). */
  readonly suffixHashed: number;
  readonly fullHashed: number;
  /** Directories at or below a scanned root (each once, however many roots overlap). */
  readonly dirs: number;
  readonly scans: number;
}

export function catalogStats(db: DB): CatalogStats {
  const r = db
    .prepare(
      `SELECT
         (SELECT count(*) FROM devices) AS devices,
         (SELECT count(*) FROM files WHERE status = 'active') AS active_files,
         (SELECT count(*) FROM files WHERE status = 'deleted') AS deleted_files,
         (SELECT count(*) FROM (SELECT DISTINCT device_id, inode FROM files WHERE status = 'active')) AS active_inodes,
         (SELECT coalesce(sum(size), 0) FROM (SELECT max(size) AS size FROM files WHERE status = 'active'
                                                GROUP BY device_id, inode)) AS active_bytes,
         (SELECT coalesce(sum(blocks), 0) * 512 FROM (SELECT max(blocks) AS blocks FROM files WHERE status = 'active'
                                                GROUP BY device_id, inode)) AS allocated_bytes,
         (SELECT count(*) FROM files WHERE status = 'active' AND size = 0) AS empty_files,
         (SELECT count(*) FROM files WHERE status = 'active' AND prefix_hash IS NOT NULL) AS prefix_hashed,
         (SELECT count(*) FROM files WHERE status = 'active' AND suffix_hash IS NOT NULL) AS suffix_hashed,
         (SELECT count(*) FROM files WHERE status = 'active' AND sha256 IS NOT NULL) AS full_hashed,
         -- Directories a scan listed, or found in a listing (one it could not read): not the
         -- ancestors of a root, which are rows only to give paths their parents.
         (SELECT count(*) FROM dirs d LEFT JOIN dirs p ON p.id = d.parent_id
           WHERE d.status = 'active'
             AND (d.last_listed_scan IS NOT NULL OR p.last_listed_scan IS NOT NULL)) AS dirs,
         (SELECT count(*) FROM scans) AS scans`,
    )
    .get() as Record<string, number>;
  return {
    devices: r.devices!,
    activeFiles: r.active_files!,
    deletedFiles: r.deleted_files!,
    activeInodes: r.active_inodes!,
    activeBytes: r.active_bytes!,
    allocatedBytes: r.allocated_bytes!,
    emptyFiles: r.empty_files!,
    prefixHashed: r.prefix_hashed!,
    suffixHashed: r.suffix_hashed!,
    fullHashed: r.full_hashed!,
    dirs: r.dirs!,
    scans: r.scans!,
  };
}

/** Problems PRAGMA integrity_check finds (reads the whole catalog); empty when sound. */
export function integrityProblems(db: DB, max = 10): string[] {
  const rows = db.pragma(`integrity_check(${max})`) as { integrity_check: string }[];
  const msgs = rows.map((r) => r.integrity_check);
  return msgs.length === 1 && msgs[0] === 'ok' ? [] : msgs;
}
