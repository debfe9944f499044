/**
 * The stored group totals and device usage on PostgreSQL (tables and triggers: migration 4 of
 * ./schema.ts), with the semantics of ../group-totals.ts and ../usage-totals.ts: at every
 * commit, a key absent from `group_dirty` (a device absent from `usage_dirty`) has exactly the
 * totals a full grouping gives. Readers take the stored rows of clean keys and regroup the dirty
 * ones in the same statement (one snapshot); a completed scan folds (foldPgStoredTotals).
 *
 * Several hosts write one catalog at once, so the fold must not clear a key that another
 * transaction has changed rows of but not yet committed. The triggers mark a key with
 * `INSERT ... ON CONFLICT DO NOTHING`: when the key is already marked (committed), the other
 * transaction relies on that mark, and a fold that deleted it without seeing the uncommitted
 * rows would leave wrong totals for a clean key. So the fold first takes `group_dirty` and
 * `usage_dirty` in SHARE ROW EXCLUSIVE mode: it conflicts with the ROW EXCLUSIVE lock every
 * trigger's INSERT takes (held to its transaction's end, even when it inserts nothing), so the
 * fold waits for every open transaction that changed file rows to end, and a statement that
 * changes rows meanwhile marks its keys only after the fold commits (its trigger waits). The
 * mode conflicts with itself: two folds run one after the other. A fold never runs inside a
 * transaction that wrote rows (two such folds would wait for each other: a deadlock).
 */
import type pg from 'pg';
import type { Dirtiness } from '../group-totals.js';
import type { DeviceUsage } from '../devices.js';
import type { Int } from './query-sql.js';
import { pgInTransaction, pgUnitOfWork } from './tx.js';

/** The rows that take part in a group (the triggers' WHERE clauses say the same). */
const COUNTED = (p: string) => `${p}status = 'active' AND ${p}sha256 IS NOT NULL AND ${p}size > 0`;

export const TOTALS_COLUMNS = 'device_id, sha256, size, inodes, paths, pinned, classes, saveable';

/**
 * Per-key totals over the rows `f` of `source` (as ../group-totals.ts): inodes, paths, inodes
 * pinned by links the catalog does not know, distinct (mode, owner, group) classes, and what
 * keeping a pinned inode (else any) frees.
 */
function totalsOver(source: string, where = ''): string {
  return `SELECT device_id, sha256, size, count(*) AS inodes, sum(paths)::bigint AS paths,
                 sum((nlink > paths)::int)::bigint AS pinned, count(DISTINCT class) AS classes,
                 (count(*) - greatest(sum((nlink > paths)::int), 1)) * size AS saveable
            FROM (SELECT f.device_id, f.sha256, f.size, f.inode, max(f.nlink) AS nlink,
                         count(*) AS paths,
                         max(f.mode) || ':' || max(f.uid) || ':' || max(f.gid) AS class
                    FROM ${source}
                   WHERE ${COUNTED('f.')} ${where}
                   GROUP BY f.sha256, f.device_id, f.size, f.inode) per_inode
           GROUP BY sha256, device_id, size
          HAVING count(*) > 1`;
}

/**
 * Every key's totals (of `devices` only, if given), in two passes (as ./query-groups.ts
 * groups): the keys with two or more inodes from the files_hashed index alone (an index-only
 * scan in grouping order), then the rows of those keys only.
 */
function allKeys(devices: readonly number[] | 'every device'): string {
  const only = devices === 'every device' ? '' : `AND device_id IN ${idList(devices)}`;
  return totalsOver(
    `(SELECT sha256, device_id, size FROM files WHERE ${COUNTED('')} ${only}
       GROUP BY sha256, device_id, size HAVING min(inode) <> max(inode)) k
     JOIN files f ON f.sha256 = k.sha256 AND f.device_id = k.device_id AND f.size = k.size`,
  );
}

/** Device ids (integers read from the catalog) as an SQL list. */
const idList = (ids: readonly number[]): string => `(${ids.map((d) => Number(d)).join(', ')})`;

/** The dirty keys' totals, each key's rows found on the files_hashed index. */
export const DIRTY_KEYS = totalsOver(
  `group_dirty d JOIN files f ON f.sha256 = d.sha256 AND f.device_id = d.device_id AND f.size = d.size`,
);

/** Above this share of the stored groups, a fold regroups everything (../group-totals.ts). */
const FULL_REBUILD_SHARE = 0.25;

/** Usage per device over `where` (active rows of files), as usage_totals stores it. */
const USAGE_OF = (where: string) =>
  `SELECT device_id, sum(paths)::bigint AS files, count(*) AS inodes, sum(size)::bigint AS bytes,
          sum(blocks)::bigint * 512 AS allocated
     FROM (SELECT device_id, inode, count(*) AS paths, max(size) AS size, max(blocks) AS blocks
             FROM files WHERE status = 'active' ${where} GROUP BY device_id, inode) per_inode
    GROUP BY device_id`;

const DIRTY_DEVICES = 'AND device_id IN (SELECT device_id FROM usage_dirty)';

const count = async (client: pg.Client, sql: string): Promise<number> =>
  Number((await client.query<{ n: Int }>(sql)).rows[0]!.n);

/** Whether any key or device is marked dirty (committed marks): one round trip. */
async function anythingDirty(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ dirty: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM group_dirty) OR EXISTS (SELECT 1 FROM usage_dirty)
            OR EXISTS (SELECT 1 FROM group_dirty_devices) AS dirty`,
  );
  return r.rows[0]!.dirty;
}

/**
 * For the fold's transaction: memory to sort and hash a device's rows in (a first scan's fold
 * regroups them all: with the default 4 MB, the reference tree's 95,000 hashed rows were sorted
 * on disk), unless the server allows more already; and no parallel workers, which on a
 * catalog with statistics each built the same hash of every key again (3× the work on two
 * cores, for the one the client and the other hosts wait on). Local to the transaction.
 */
const FOLD_SETTINGS = `SELECT set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024
                                           THEN '64MB' ELSE current_setting('work_mem') END, true),
                              set_config('max_parallel_workers_per_gather', '0', true)`;

/** What one fold did: dirty keys and devices brought up to date. */
export type FoldOutcome =
  | { readonly kind: 'folded'; readonly keys: number; readonly devices: number }
  /** Inside a transaction that may have written rows: left dirty (still exact) for later. */
  | { readonly kind: 'deferred' };

/**
 * Bring the stored totals up to date with the committed rows, in a transaction of its own
 * (see the header for the lock). Called at the end of a completed scan.
 */
export async function foldPgStoredTotals(client: pg.Client): Promise<FoldOutcome> {
  if (pgInTransaction(client)) return { kind: 'deferred' };
  // Nothing dirty as committed now (a scan that changed nothing, the usual rescan): nothing for
  // this fold to do, so no transaction, lock or counts (four round trips fewer). Skipping does
  // not wait for transactions still open; their keys are marked when they commit (readers
  // regroup them meanwhile), and whoever commits them folds them, or the next fold does, as
  // when they commit after a fold. The keys this scan marked are committed before its fold
  // runs, so this check sees them.
  if (!(await anythingDirty(client))) return { kind: 'folded', keys: 0, devices: 0 };
  return pgUnitOfWork(client, async () => {
    // Lock order: group_dirty first, as the triggers write them.
    await client.query('LOCK TABLE group_dirty, usage_dirty IN SHARE ROW EXCLUSIVE MODE');
    await client.query(FOLD_SETTINGS);
    // Dirty devices no running scan holds (./dirty-devices.ts): every key rebuilt.
    const whole = (
      await client.query<{ device_id: Int }>(
        'SELECT device_id FROM group_dirty_devices ORDER BY device_id FOR UPDATE SKIP LOCKED',
      )
    ).rows.map((r) => Number(r.device_id));
    if (whole.length > 0) {
      const list = idList(whole);
      await client.query(`DELETE FROM group_totals WHERE device_id IN ${list}`);
      await client.query(`INSERT INTO group_totals (${TOTALS_COLUMNS}) ${allKeys(whole)}`);
      await client.query(`DELETE FROM group_dirty WHERE device_id IN ${list}`);
      await client.query(`DELETE FROM group_dirty_devices WHERE device_id IN ${list}`);
    }
    const keys = await count(client, 'SELECT count(*) AS n FROM group_dirty');
    if (keys > 0) {
      const stored = await count(client, 'SELECT count(*) AS n FROM group_totals');
      if (keys > FULL_REBUILD_SHARE * stored) {
        await client.query(`DELETE FROM group_totals`);
        await client.query(
          `INSERT INTO group_totals (${TOTALS_COLUMNS}) ${allKeys('every device')}`,
        );
      } else {
        await client.query(`DELETE FROM group_totals t USING group_dirty d
                             WHERE t.device_id = d.device_id AND t.sha256 = d.sha256 AND t.size = d.size`);
        await client.query(`INSERT INTO group_totals (${TOTALS_COLUMNS}) ${DIRTY_KEYS}`);
      }
      await client.query('DELETE FROM group_dirty');
    }
    const devices = await count(client, 'SELECT count(*) AS n FROM usage_dirty');
    if (devices > 0) {
      await client.query(`DELETE FROM usage_totals WHERE device_id IN (SELECT device_id FROM usage_dirty);
        INSERT INTO usage_totals (device_id, files, inodes, bytes, allocated) ${USAGE_OF(DIRTY_DEVICES)};
        DELETE FROM usage_dirty`);
    }
    return { kind: 'folded', keys, devices };
  });
}

/**
 * The same-device groups from the stored totals, clean keys as stored, dirty keys and every key
 * of a dirty device regrouped, as one SELECT of TOTALS_COLUMNS (one statement: one snapshot of
 * totals, dirty keys and rows). Writes nothing. `d`: what pgDirtiness read.
 */
export function storedGroupsSql(d: Dirtiness, deviceWhere: string): string {
  if (d.keys === 0 && d.devices.length === 0)
    return `SELECT ${TOTALS_COLUMNS} FROM group_totals WHERE true ${deviceWhere}`;
  const notWhole = d.devices.length === 0 ? '' : `AND device_id NOT IN ${idList(d.devices)}`;
  const parts = [
    `SELECT ${TOTALS_COLUMNS} FROM group_totals t
      WHERE NOT EXISTS (SELECT 1 FROM group_dirty d WHERE d.device_id = t.device_id
                          AND d.sha256 = t.sha256 AND d.size = t.size) ${notWhole} ${deviceWhere}`,
  ];
  if (d.keys > 0)
    parts.push(
      `SELECT ${TOTALS_COLUMNS} FROM (${DIRTY_KEYS}) x WHERE true ${notWhole} ${deviceWhere}`,
    );
  if (d.devices.length > 0)
    parts.push(`SELECT ${TOTALS_COLUMNS} FROM (${allKeys(d.devices)}) w WHERE true ${deviceWhere}`);
  return parts.join('\n UNION ALL\n');
}

/** What is dirty (dirty keys, and devices whose every key is), in one round trip. */
export async function pgDirtiness(client: pg.Client): Promise<Dirtiness> {
  const r = await client.query<{ keys: Int; devices: Int[] }>(
    `SELECT (SELECT count(*) FROM group_dirty) AS keys,
            ARRAY(SELECT device_id FROM group_dirty_devices ORDER BY device_id) AS devices`,
  );
  return { keys: Number(r.rows[0]!.keys), devices: r.rows[0]!.devices.map((x) => Number(x)) };
}

/** Active paths, distinct inodes and their bytes per device: stored, dirty devices counted. */
export async function pgStoredUsage(client: pg.Client): Promise<Omit<DeviceUsage, 'lastScanAt'>[]> {
  const r = await client.query<{
    device_id: Int;
    files: Int;
    inodes: Int;
    bytes: Int;
    allocated: Int;
  }>(
    `SELECT device_id, files, inodes, bytes, allocated FROM usage_totals
      WHERE device_id NOT IN (SELECT device_id FROM usage_dirty)
     UNION ALL
     ${USAGE_OF(DIRTY_DEVICES)}`,
  );
  return r.rows.map((u) => ({
    deviceId: Number(u.device_id),
    files: Number(u.files),
    inodes: Number(u.inodes),
    bytes: Number(u.bytes),
    allocatedBytes: Number(u.allocated),
  }));
}
