/** Reading a catalog directly, as an independent check of what the CLI wrote. */
import Database from 'better-sqlite3';

export function readCatalog<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Bytes a perfect hardlink dedupe frees: Σ over (device, sha256, size) of (inodes − 1) × size. */
export function hardlinkSaving(path: string): number {
  return readCatalog(path, (db) => {
    const r = db
      .prepare(
        `SELECT coalesce(sum((n - 1) * size), 0) AS saving, count(*) AS groups FROM (
           SELECT size, count(DISTINCT inode) AS n FROM files
            WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0
            GROUP BY device_id, sha256, size HAVING n > 1)`,
      )
      .get() as { saving: number; groups: number };
    return r.saving;
  });
}

export function activePaths(path: string): Buffer[] {
  return readCatalog(path, (db) =>
    (
      db.prepare(`SELECT path FROM file_paths WHERE status = 'active'`).all() as { path: Buffer }[]
    ).map((r) => r.path),
  );
}

export function countRows(path: string, where = "status = 'active'"): number {
  return readCatalog(
    path,
    (db) => (db.prepare(`SELECT count(*) AS n FROM files WHERE ${where}`).get() as { n: number }).n,
  );
}
