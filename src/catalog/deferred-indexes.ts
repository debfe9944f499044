/**
 * A first scan into an (almost) empty catalog builds the file rows' size- and hash-keyed
 * indexes once, after its walk, instead of row by row. Their keys (sizes, SHA-256s) come in
 * random order, so each inserted row touched a random leaf page of four B-trees: ~10 of the
 * ~17 µs an inserted row cost on the reference tree, and far more once the indexes outgrow
 * SQLite's page cache (a 1,000,000-file tree). `CREATE INDEX` sorts once instead.
 *
 * The indexes are dropped in a committed transaction of their own, so the rows a scan commits
 * meanwhile are never covered by half an index: an index is either absent or complete (built by
 * one CREATE INDEX over every row). Every way out of the walk builds them again (`restore`);
 * a scan killed with them dropped leaves a catalog that the next open rebuilds them in
 * (open.ts, `restoreDeferredIndexes`) before any query that names them (INDEXED BY) can run.
 * The unique (dir_id, name) index stays: the merge looks rows up through it. files_inode is
 * deferred only when the catalog holds no file row at all: then no device of this scan can
 * have rows whose inodes the walk's move probes ask about (known-inodes.ts), and its keys
 * (inodes in walk order, not creation order) were random inserts too: deferring it took 0.37 s
 * off a `scan --hash all` of the reference tree (bench/NOTES.md).
 */
import { availableParallelism } from 'node:os';
import type { DB } from './db.js';

/**
 * Defer only below this many file rows: building the indexes afterwards costs in proportion
 * to every row of the catalog, so a catalog that already holds many keeps them.
 */
export const DEFER_BELOW_ROWS = 10_000;

/** Helper threads for the index builds' sorts: one per CPU, at most 4. */
const SORT_HELPERS = Math.min(4, Math.max(1, availableParallelism()));

/**
 * The page cache during the index builds, in KiB, which sets the size of the sort's runs: about
 * SQLite's smallest run (250 pages), so that even the reference tree's keys make several runs
 * for the helpers to share.
 */
const SORT_RUN_KIB = 1024;

export interface DeferredIndex {
  readonly name: string;
  readonly sql: string;
  /**
   * When a device's first scan drops it: the catalog holds fewer than DEFER_BELOW_ROWS file
   * rows, or none at all (an index the walk itself may query otherwise).
   */
  readonly when: 'few file rows' | 'no file rows';
}

/**
 * The deferred indexes, with the exact SQL that the migrations created them with (as
 * sqlite_master keeps it): an index whose definition a later migration changes no longer
 * matches and is simply not deferred. test/e2e/scan-deferred-indexes.test.ts checks they match.
 */
export const DEFERRED_INDEXES: readonly DeferredIndex[] = [
  {
    name: 'files_inode',
    sql: 'CREATE INDEX files_inode ON files(device_id, inode)',
    when: 'no file rows',
  },
  {
    name: 'files_active_size',
    sql: "CREATE INDEX files_active_size ON files(size, device_id, inode) WHERE status = 'active'",
    when: 'few file rows',
  },
  {
    name: 'files_unhashed',
    sql:
      'CREATE INDEX files_unhashed ON files(size, device_id, inode)\n' +
      "    WHERE status = 'active' AND prefix_hash IS NULL",
    when: 'few file rows',
  },
  {
    name: 'files_prefix_only',
    sql:
      'CREATE INDEX files_prefix_only ON files(size, prefix_hash)\n' +
      "    WHERE status = 'active' AND sha256 IS NULL AND prefix_hash IS NOT NULL",
    when: 'few file rows',
  },
  {
    name: 'files_hashed',
    sql:
      'CREATE INDEX files_hashed ON files(sha256, device_id, size, inode)\n' +
      "    WHERE status = 'active' AND sha256 IS NOT NULL",
    when: 'few file rows',
  },
];

/** The deferred indexes that the catalog lacks. */
export function missingDeferredIndexes(db: DB): string[] {
  const present = new Set(
    (
      db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files'`)
        .all() as { name: string }[]
    ).map((r) => r.name),
  );
  return DEFERRED_INDEXES.filter((ix) => !present.has(ix.name)).map((ix) => ix.name);
}

/**
 * Build the missing deferred indexes, all in one transaction (joins an open one). Which are
 * missing is read inside it: another process (a concurrent scan's open) may have built them
 * since we last looked. Returns how many it built.
 */
export function restoreDeferredIndexes(db: DB): number {
  // Outside a transaction first, without the write lock: the common case is none missing.
  if (missingDeferredIndexes(db).length === 0) return 0;
  const build = () => {
    const missing = new Set(missingDeferredIndexes(db));
    for (const ix of DEFERRED_INDEXES) if (missing.has(ix.name)) db.exec(ix.sql);
    return missing.size;
  };
  // Each CREATE INDEX sorts every row in runs as large as the page cache, spilled to temp files
  // and merged; helper threads sort the runs side by side while the table is read (SQLite's
  // PRAGMA threads). Only here: each helper holds a run in memory (the 1,000,000-file tree's
  // build: 3.8 s on one thread, 3.0-3.2 s with 2 helpers on 2 CPUs; bench/NOTES.md).
  // The runs' size is the page cache's, so the build shrinks the cache to SORT_RUN_KIB: 16 MiB
  // runs left one run for the reference tree's keys (no helper at work) and sorted slower per
  // key on the 1,000,000-file tree (2.4-2.6 s of wall and 3.6-3.8 s of CPU there, against
  // 1.7-1.9 s and 2.7-2.8 s with 1 MiB runs, 4 interleaved pairs). A smaller cache holds fewer
  // of the transaction's dirty pages, which SQLite then writes to the WAL uncommitted: the same
  // pages a commit writes, earlier.
  const cacheSize = db.pragma('cache_size', { simple: true }) as number;
  db.pragma(`threads = ${SORT_HELPERS}`);
  db.pragma(`cache_size = -${SORT_RUN_KIB}`);
  try {
    return db.inTransaction ? build() : db.transaction(build).immediate();
  } finally {
    db.pragma(`cache_size = ${cacheSize}`);
    db.pragma('threads = 0');
  }
}

/**
 * On a device's first scan (it has no file row yet), drop the deferred indexes when the
 * catalog holds fewer than DEFER_BELOW_ROWS file rows and no other scan is running, in a
 * transaction committed at once (so that no later commit can hold rows without their index
 * entries while the index exists). Resolves true when they are now deferred. Outside any
 * transaction only: a scan asks before its walk opens one.
 */
export function deferIndexesIfFew(db: DB, p: { deviceId: number; scanId: number }): boolean {
  if (db.inTransaction) return false;
  return db
    .transaction(() => {
      // A rescan inserts few rows, if any: rebuilding would cost more than it saves.
      if (db.prepare('SELECT 1 FROM files WHERE device_id = ? LIMIT 1').get(p.deviceId))
        return false;
      // Another scan running now may be in its hash stages, whose queries name these indexes.
      const other = db
        .prepare(`SELECT 1 FROM scans WHERE status = 'running' AND id <> ? LIMIT 1`)
        .get(p.scanId);
      if (other) return false;
      const rows = db
        .prepare('SELECT count(*) AS n FROM (SELECT 1 FROM files LIMIT ?)')
        .get(DEFER_BELOW_ROWS) as { n: number };
      if (rows.n >= DEFER_BELOW_ROWS) return false;
      const defs = new Map(
        (
          db
            .prepare(
              `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files'`,
            )
            .all() as { name: string; sql: string | null }[]
        ).map((r) => [r.name, r.sql]),
      );
      let dropped = 0;
      for (const ix of DEFERRED_INDEXES) {
        if (ix.when === 'no file rows' && rows.n > 0) continue;
        // Absent already (another scan deferred it), or defined otherwise than we would rebuild it.
        if (defs.get(ix.name) !== ix.sql) continue;
        db.exec(`DROP INDEX ${ix.name}`);
        dropped++;
      }
      return dropped > 0 || missingDeferredIndexes(db).length > 0;
    })
    .immediate();
}
