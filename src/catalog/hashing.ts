/**
 * Which inodes need hashing (DESIGN §3.5), in stages: a size shared with another active inode
 * anywhere in the catalog makes a candidate for the prefix hash (and the suffix hash of a file
 * past 64 KiB, read with it); a (size, prefix hash, suffix hash) shared with another inode makes
 * a candidate for the full SHA-256. Each inode is one job, however
 * many paths it has. Jobs go through a temporary table so the caller can page through them
 * while writing results on the same connection.
 */
import type { DB } from './db.js';
import { stmt } from './stmt.js';

export type HashStage = 'prefix' | 'full' | 'all';

export interface JobRow {
  readonly jobId: number;
  /** The lowest row id among the inode's active paths, and how many there are. */
  readonly fileId: number;
  readonly paths: number;
  readonly deviceId: number;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly dirPath: Buffer;
  readonly name: Buffer;
  /** The inode was already read in this scan's prefix stage (count it once). */
  readonly readBefore: boolean;
}

const SIZE_COLLISION = `EXISTS (SELECT 1 FROM files g WHERE g.status = 'active' AND g.size = f.size
                                 AND (g.device_id != f.device_id OR g.inode != f.inode))`;
/**
 * The full stage's pairing: size and prefix equal, and the suffixes too where both rows have
 * one (ReadDigests). A row read by a hashall from before suffixes (migration 20) has none: it
 * pairs as before, so an upgrade reads nothing again and misses no pair.
 */
export const SUFFIXES_AGREE = `(g.suffix_hash = f.suffix_hash OR g.suffix_hash IS NULL OR f.suffix_hash IS NULL)`;
const PREFIX_COLLISION = `EXISTS (SELECT 1 FROM files g WHERE g.status = 'active' AND g.size = f.size
                                   AND g.prefix_hash = f.prefix_hash AND ${SUFFIXES_AGREE}
                                   AND (g.device_id != f.device_id OR g.inode != f.inode))`;

/**
 * The partial index each stage's candidates live in. Named explicitly: without statistics the
 * planner prefers files_active_size for "size > 0" and reads every row of the catalog.
 */
const STAGE_INDEX: Record<HashStage, string> = {
  prefix: 'INDEXED BY files_unhashed',
  full: 'INDEXED BY files_prefix_only',
  all: '',
};

const STAGE_FILTER: Record<HashStage, string> = {
  prefix: `f.size > 0 AND f.prefix_hash IS NULL AND ${SIZE_COLLISION}`,
  full: `f.size > 0 AND f.sha256 IS NULL AND f.prefix_hash IS NOT NULL AND ${PREFIX_COLLISION}`,
  all: `f.sha256 IS NULL`,
};

/**
 * Start a scan's hashing: the inodes read so far (a prefix-only read counts a file once when the
 * full stage reads it again) and those whose hashing failed (changed under us, unreadable): they
 * are not retried within the same scan, so each is reported once.
 */
export function startHashSession(db: DB): void {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS read_inodes (device_id INTEGER, inode INTEGER,
                                                       PRIMARY KEY (device_id, inode));
           CREATE TEMP TABLE IF NOT EXISTS failed_inodes (device_id INTEGER, inode INTEGER,
                                                         PRIMARY KEY (device_id, inode));
           DELETE FROM temp.read_inodes; DELETE FROM temp.failed_inodes;`);
}

/** Fill temp.hash_jobs for a stage (after startHashSession); returns the number of jobs (inodes). */
export function prepareJobs(db: DB, stage: HashStage): number {
  db.exec(`DROP TABLE IF EXISTS temp.hash_jobs;
           CREATE TEMP TABLE hash_jobs (
             job_id INTEGER PRIMARY KEY, file_id INTEGER, paths INTEGER, device_id INTEGER,
             inode INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, dir_path BLOB,
             name BLOB, read_before INTEGER);`);
  // One path per inode (the lowest row id), and everything needed to open it, so that paging
  // through the jobs is a plain range scan. Jobs go in row-id order: results are then written
  // to neighbouring catalog pages (in inode order, updating 95k rows took twice as long).
  return db
    .prepare(
      `INSERT INTO temp.hash_jobs (file_id, paths, device_id, inode, size, mtime_ns, ctime_ns, dir_path, name, read_before)
       SELECT j.file_id, j.paths, j.device_id, j.inode, j.size, j.mtime_ns, j.ctime_ns, d.path, f.name,
              EXISTS (SELECT 1 FROM temp.read_inodes r WHERE r.device_id = j.device_id AND r.inode = j.inode)
         FROM (SELECT f.device_id, f.inode, f.size, f.mtime_ns, f.ctime_ns, min(f.id) AS file_id,
                      count(*) AS paths
                 FROM files f ${STAGE_INDEX[stage]}
                WHERE f.status = 'active' AND ${STAGE_FILTER[stage]}
                GROUP BY f.device_id, f.inode, f.size, f.mtime_ns, f.ctime_ns) j
         JOIN files f ON f.id = j.file_id
         JOIN dirs d ON d.id = f.dir_id
        WHERE NOT EXISTS (SELECT 1 FROM temp.failed_inodes x
                           WHERE x.device_id = j.device_id AND x.inode = j.inode)
        ORDER BY j.file_id`,
    )
    .run().changes;
}

/** Bytes the prepared jobs will read. */
export function preparedJobBytes(db: DB, stage: HashStage): number {
  const r = db.prepare('SELECT coalesce(sum(size), 0) AS b FROM temp.hash_jobs').get() as {
    b: number;
  };
  return stage === 'prefix' ? 0 : r.b;
}

type RawJob = [
  jobId: number,
  fileId: number,
  paths: number,
  deviceId: number,
  inode: bigint,
  size: bigint,
  mtimeNs: bigint,
  ctimeNs: bigint,
  dirPath: Buffer,
  name: Buffer,
  readBefore: number,
];

export function jobPage(db: DB, afterJobId: number, limit: number): JobRow[] {
  // Raw rows, and BigInt only where the value may exceed 2^53: decoding rows is most of the
  // cost of paging through a hundred thousand jobs.
  const rows = stmt(
    db,
    `SELECT job_id, file_id, paths, device_id, inode, size, mtime_ns, ctime_ns,
            dir_path, name, read_before
       FROM temp.hash_jobs WHERE job_id > ? ORDER BY job_id LIMIT ?`,
  )
    .raw(true)
    .safeIntegers(true)
    .all(afterJobId, limit) as unknown as RawJob[];
  return rows.map((r) => ({
    jobId: Number(r[0]),
    fileId: Number(r[1]),
    paths: Number(r[2]),
    deviceId: Number(r[3]),
    inode: r[4],
    size: r[5],
    mtimeNs: r[6],
    ctimeNs: r[7],
    dirPath: r[8],
    name: r[9],
    readBefore: Number(r[10]) !== 0,
  }));
}

/** The identity a hash was computed for: the row must still describe it when the hash lands. */
export interface HashedIdentity {
  readonly deviceId: number;
  readonly inode: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/** A row to store hashes on: the lowest row id of the inode's active paths and how many there are. */
export interface HashTarget extends HashedIdentity {
  readonly fileId: number;
  readonly paths: number;
}

/** An inode of a device, for the scan's read and failed marks. */
export interface InodeRef {
  readonly deviceId: number;
  readonly inode: bigint;
}

/**
 * What one read of a file gives (src/scan/hash-file.ts): the digest of its first 4 KiB; of its
 * last 4 KiB when it is larger than 64 KiB (src/scan/hash-job.ts SUFFIX_BYTES); of its whole
 * content when it was read whole.
 */
export interface ReadDigests {
  readonly prefix: Buffer;
  /** Absent for a file up to 64 KiB, which has no suffix digest. */
  readonly suffix?: Buffer | undefined;
  readonly sha256: Buffer | undefined;
}

/** A page of hashing outcomes, written by one port operation. */
export interface HashResults {
  /** Hashes computed for an inode that must still have the identity it was hashed with. */
  readonly stored: readonly ({ readonly target: HashTarget } & ReadDigests)[];
  /** Inodes whose prefix was read but whose rows were written with their hashes already. */
  readonly read: readonly InodeRef[];
  /** Inodes whose hashing failed (changed, unreadable): not retried in this scan. */
  readonly failed: readonly InodeRef[];
}

export class HashWriter {
  private readonly upd;
  private readonly updOne;
  private readonly read;
  private readonly failed;
  constructor(db: DB) {
    this.read = db.prepare(
      'INSERT OR IGNORE INTO temp.read_inodes (device_id, inode) VALUES (?, ?)',
    );
    this.failed = db.prepare(
      'INSERT OR IGNORE INTO temp.failed_inodes (device_id, inode) VALUES (?, ?)',
    );
    // A digest not computed by this read keeps the row's: a row's digests all describe its
    // current identity (a changed file's row loses them: tree.ts), which the WHERE holds to.
    const set = `prefix_hash = ?, suffix_hash = coalesce(?, suffix_hash), sha256 = coalesce(?, sha256)`;
    this.upd = db.prepare(
      `UPDATE files SET ${set}
        WHERE device_id = ? AND inode = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ? AND status = 'active'`,
    );
    // The common case, an inode with one path: found by row id, not through the inode index.
    this.updOne = db.prepare(
      `UPDATE files SET ${set}
        WHERE id = ? AND device_id = ? AND inode = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ? AND status = 'active'`,
    );
  }
  /**
   * Store hashes for every active path of the inode whose identity is still the one hashed.
   * Call inside a transaction: one commit per thousands of results, not per result.
   */
  store(job: HashTarget, d: ReadDigests): void {
    if (job.paths === 1) this.storeOne(job.fileId, job, d);
    else {
      this.upd.run(
        d.prefix,
        d.suffix ?? null,
        d.sha256 ?? null,
        job.deviceId,
        job.inode,
        job.size,
        job.mtimeNs,
        job.ctimeNs,
      );
      if (!d.sha256) this.markRead(job.deviceId, job.inode);
    }
  }

  /** Store hashes on one row (an inode with a single path), if it still has the identity. */
  storeOne(fileId: number, id: HashedIdentity, d: ReadDigests): void {
    this.updOne.run(
      d.prefix,
      d.suffix ?? null,
      d.sha256 ?? null,
      fileId,
      id.deviceId,
      id.inode,
      id.size,
      id.mtimeNs,
      id.ctimeNs,
    );
    if (!d.sha256) this.markRead(id.deviceId, id.inode);
  }

  /** The inode's prefix was read: the full stage reads it again but counts it once. */
  markRead(deviceId: number, inode: bigint): void {
    this.read.run(deviceId, inode);
  }

  /** Hashing the inode failed (changed, unreadable): not retried in this scan. */
  markFailed(deviceId: number, inode: bigint): void {
    this.failed.run(deviceId, inode);
  }

  /** Write a page of outcomes (inside the caller's transaction). */
  write(r: HashResults): void {
    for (const s of r.stored) this.store(s.target, s);
    for (const x of r.read) this.markRead(x.deviceId, x.inode);
    for (const x of r.failed) this.markFailed(x.deviceId, x.inode);
  }
}

/**
 * Inodes without a prefix hash whose size another inode shares. Files with a size no other file
 * has are never hashed and stay in files_unhashed for good, so this visits every one of them on
 * each call (each scan's pending count, each analyze): it is answered from that index alone,
 * which holds device and inode (migration 18), without reading the row itself.
 * test/unit/query-plans.test.ts holds it to that.
 */
export const UNHASHED_CANDIDATES_SQL = `SELECT f.device_id, f.inode FROM files f ${STAGE_INDEX.prefix}
        WHERE f.status = 'active' AND f.size > 0 AND f.prefix_hash IS NULL AND ${SIZE_COLLISION}`;

/** Candidate inodes that still lack the hash their stage needs (offline, unreadable, changed). */
export function pendingCandidates(db: DB): number {
  // Two halves, each served by its partial index (files_unhashed, files_prefix_only).
  const r = stmt(
    db,
    `SELECT count(*) AS n FROM (
       ${UNHASHED_CANDIDATES_SQL}
       UNION
       SELECT f.device_id, f.inode FROM files f ${STAGE_INDEX.full}
        WHERE f.status = 'active' AND f.size > 0 AND f.sha256 IS NULL AND f.prefix_hash IS NOT NULL
          AND ${PREFIX_COLLISION})`,
  ).get() as { n: number };
  return r.n;
}
