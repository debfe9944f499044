/**
 * Hashing on PostgreSQL: HashingOps of the scan port (../scan-port.ts) with the semantics of
 * ../hashing.ts. A stage's jobs (one per inode, its lowest row id's path) go to a session
 * temporary table, paged through by job id; a page of results is written by a few
 * statements over arrays (unnest), never one per file.
 */
import type pg from 'pg';
import type { HashResults, HashStage, JobRow } from '../hashing.js';
import type { HashingOps } from '../scan-port.js';
import { writeHashes } from './hash-rows.js';
import { pgInTransaction } from './tx.js';
import { writeBehind } from './write-behind.js';
import {
  SIZE_COLLISION,
  anyCandidate,
  prefixCollision,
  prefixCollisionForm,
  type PrefixCollisionForm,
} from './hash-candidates.js';

/** What each stage reads (./hash-candidates.ts says why the full stage's form is chosen). */
const stageFilter = (stage: HashStage, form: PrefixCollisionForm): string =>
  ({
    prefix: `f.size > 0 AND f.prefix_hash IS NULL AND ${SIZE_COLLISION}`,
    full: `f.size > 0 AND f.sha256 IS NULL AND f.prefix_hash IS NOT NULL AND ${prefixCollision(form)}`,
    all: `f.sha256 IS NULL`,
  })[stage];

interface RawJob {
  job_id: string;
  file_id: string;
  paths: string;
  device_id: string;
  inode: string;
  size: string;
  mtime_ns: string;
  ctime_ns: string;
  dir_path: Buffer;
  name: Buffer;
  read_before: boolean;
}

export function pgHashingOps(client: pg.Client): HashingOps {
  return {
    async startSession() {
      writeBehind(client).startScan();
      // The inodes read so far and those whose hashing failed (not retried in this scan).
      await client.query(`CREATE TEMP TABLE IF NOT EXISTS read_inodes (device_id bigint, inode bigint,
                                                                       PRIMARY KEY (device_id, inode));
                          CREATE TEMP TABLE IF NOT EXISTS failed_inodes (device_id bigint, inode bigint,
                                                                         PRIMARY KEY (device_id, inode));
                          TRUNCATE pg_temp.read_inodes, pg_temp.failed_inodes`);
    },

    async prepareJobs(stage) {
      // The stages select from every row and mark: what the walk queued is written first.
      await writeBehind(client).sync();
      // No job (hash-candidates.ts): no job table either; no page of it is read then.
      const form = stage === 'full' ? await prefixCollisionForm(client) : 'join';
      // The full stage with many prefix-only rows (a first scan's) has jobs, as a rule: asking
      // first cost it 70 ms (the candidates' first row, by a join), and the job list says it.
      const ask = stage !== 'full' || form === 'probe';
      if (ask && !(await anyCandidate(client, stageFilter(stage, form))))
        return { jobs: 0, bytes: 0 };
      await client.query(`DROP TABLE IF EXISTS pg_temp.hash_jobs;
                          CREATE TEMP TABLE hash_jobs (
                            job_id bigint PRIMARY KEY, file_id bigint, paths bigint, device_id bigint,
                            inode bigint, size bigint, mtime_ns bigint, ctime_ns bigint, dir_path bytea,
                            name bytea, read_before boolean)`);
      // Job ids in row-id order: results are then written to neighbouring rows.
      const r = await client.query(
        `INSERT INTO pg_temp.hash_jobs
         SELECT row_number() OVER (ORDER BY j.file_id), j.file_id, j.paths, j.device_id, j.inode,
                j.size, j.mtime_ns, j.ctime_ns, d.path, f.name,
                EXISTS (SELECT 1 FROM pg_temp.read_inodes r
                         WHERE r.device_id = j.device_id AND r.inode = j.inode)
           FROM (SELECT f.device_id, f.inode, f.size, f.mtime_ns, f.ctime_ns, min(f.id) AS file_id,
                        count(*) AS paths
                   FROM files f
                  WHERE f.status = 'active' AND ${stageFilter(stage, form)}
                  GROUP BY f.device_id, f.inode, f.size, f.mtime_ns, f.ctime_ns) j
           JOIN files f ON f.id = j.file_id
           JOIN dirs d ON d.id = f.dir_id
          WHERE NOT EXISTS (SELECT 1 FROM pg_temp.failed_inodes x
                             WHERE x.device_id = j.device_id AND x.inode = j.inode)`,
      );
      const jobs = r.rowCount ?? 0;
      if (jobs === 0 || stage === 'prefix') return { jobs, bytes: 0 };
      const b = await client.query<{ b: string }>(
        'SELECT coalesce(sum(size), 0)::text AS b FROM pg_temp.hash_jobs',
      );
      return { jobs, bytes: Number(b.rows[0]!.b) };
    },

    async jobPage({ afterJobId, limit }): Promise<JobRow[]> {
      const r = await client.query<RawJob>(
        `SELECT * FROM pg_temp.hash_jobs WHERE job_id > $1 ORDER BY job_id LIMIT $2`,
        [afterJobId, limit],
      );
      return r.rows.map((j) => ({
        jobId: Number(j.job_id),
        fileId: Number(j.file_id),
        paths: Number(j.paths),
        deviceId: Number(j.device_id),
        inode: BigInt(j.inode),
        size: BigInt(j.size),
        mtimeNs: BigInt(j.mtime_ns),
        ctimeNs: BigInt(j.ctime_ns),
        dirPath: j.dir_path,
        name: j.name,
        readBefore: j.read_before,
      }));
    },

    async writeResults(res: HashResults) {
      // Hashes land only on active rows that still have the identity that was hashed
      // (hash-rows.ts). A row still buffered behind the walk takes its hashes there; the other
      // results of inodes with one path are written behind the walk too (write-behind.ts). An
      // inode with several paths is matched by inode, so every row queued is written first.
      const wb = writeBehind(client);
      // Rows of a device this connection scans for the first time: claimed, not marked key by
      // key (dirty-devices.ts).
      if (pgInTransaction(client))
        for (const s of res.stored) wb.claimIfFirstScanned(s.target.deviceId);
      const many = res.stored.filter((s) => s.target.paths !== 1);
      const one = res.stored.filter(
        (s) => s.target.paths === 1 && !wb.setHashes(s.target.fileId, s.target, s),
      );
      // A prefix-only read: the full stage reads the inode again but counts it once.
      const read = [...res.stored.filter((s) => !s.sha256).map((s) => s.target), ...res.read];
      await wb.addResults({ stored: one, read, failed: res.failed });
      if (many.length > 0) {
        await wb.sync();
        await writeHashes(client, 'inode', many);
      }
    },

    async pending() {
      await writeBehind(client).sync();
      const form = await prefixCollisionForm(client);
      const r = await client.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM (
           SELECT f.device_id, f.inode FROM files f
            WHERE f.status = 'active' AND f.size > 0 AND f.prefix_hash IS NULL AND ${SIZE_COLLISION}
           UNION
           SELECT f.device_id, f.inode FROM files f
            WHERE f.status = 'active' AND f.size > 0 AND f.sha256 IS NULL AND f.prefix_hash IS NOT NULL
              AND ${prefixCollision(form)}) c`,
      );
      return Number(r.rows[0]!.n);
    },

    async deviceHasFiles(deviceId) {
      await writeBehind(client).sync();
      const r = await client.query('SELECT 1 FROM files WHERE device_id = $1 LIMIT 1', [deviceId]);
      return (r.rowCount ?? 0) > 0;
    },
  };
}
