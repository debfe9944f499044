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
 * transaction that wrote rows (two such folds would wait for each other: a deadlock). After a
 * first scan the two halves run at once, each in its own transaction holding its own table's
 * lock (foldPgStoredTotals says why that is safe).
 */
import type pg from 'pg';
import { debugNote } from '../../debug-note.js';
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

/** What is marked dirty (committed marks), in one round trip. */
interface Marks {
  /** A key or a device whose every key is dirty. */
  readonly groups: boolean;
  /** A device claimed whole (a first scan's, ./dirty-devices.ts): a fold regroups all of it. */
  readonly wholeDevice: boolean;
  readonly usage: boolean;
}

async function marks(client: pg.Client): Promise<Marks> {
  const r = await client.query<{ keys: boolean; whole: boolean; usage: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM group_dirty) AS keys,
            EXISTS (SELECT 1 FROM group_dirty_devices) AS whole,
            EXISTS (SELECT 1 FROM usage_dirty) AS usage`,
  );
  const m = r.rows[0]!;
  return { groups: m.keys || m.whole, wholeDevice: m.whole, usage: m.usage };
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

/** Where a fold counted the device usage. */
export type UsageFold =
  /** In the same transaction as the groups, after them. */
  | { readonly kind: 'with the groups' }
  /** On a second connection, in a transaction of its own, while this one folded the groups. */
  | { readonly kind: 'aside' }
  /** After the groups, in a transaction of its own: the second connection failed (`why`). */
  | { readonly kind: 'after'; readonly why: string };

/** What one fold did: dirty keys and devices brought up to date. */
export type FoldOutcome =
  | {
      readonly kind: 'folded';
      readonly keys: number;
      readonly devices: number;
      readonly usage: UsageFold;
    }
  /** Inside a transaction that may have written rows: left dirty (still exact) for later. */
  | { readonly kind: 'deferred' };

/** A second connection to the same catalog (connect.ts), which the caller's fold then ends. */
export type SecondConnection = () => Promise<pg.Client>;

/**
 * Bring the stored totals up to date with the committed rows, in a transaction of its own
 * (see the header for the lock). Called at the end of a completed scan.
 *
 * After a device's first scan both halves regroup and recount every row of the device: on the
 * reference tree 0.23–0.28 s for the groups and 0.09–0.10 s for the usage, each on one server
 * process while the client waits. So then, given `second`, the usage is counted on a second
 * connection in a transaction of its own, at the same time, as SQLite's fold counts it on a
 * worker (../stored-totals.ts). The two halves keep apart invariants (`group_dirty` over
 * `group_totals`, `usage_dirty` over `usage_totals`), so each transaction locks its own table
 * and no lock is waited for in a cycle: a transaction whose triggers wrote to `usage_dirty`
 * holds `group_dirty` already (the triggers write it first), so it waits for neither fold.
 */
export async function foldPgStoredTotals(
  client: pg.Client,
  opts: { readonly second?: SecondConnection } = {},
): Promise<FoldOutcome> {
  if (pgInTransaction(client)) return { kind: 'deferred' };
  // Nothing dirty as committed now (a scan that changed nothing, the usual rescan): nothing for
  // this fold to do, so no transaction, lock or counts (four round trips fewer). Skipping does
  // not wait for transactions still open; their keys are marked when they commit (readers
  // regroup them meanwhile), and whoever commits them folds them, or the next fold does, as
  // when they commit after a fold. The keys this scan marked are committed before its fold
  // runs, so this check sees them.
  const m = await marks(client);
  if (!m.groups && !m.usage) {
    return { kind: 'folded', keys: 0, devices: 0, usage: { kind: 'with the groups' } };
  }
  // Only a claimed device's fold is long enough for a connection's start to pay; a rescan's
  // folds are a few keys.
  if (opts.second && m.wholeDevice && m.usage) return foldAside(client, opts.second);
  return pgUnitOfWork(client, async () => {
    // Lock order: group_dirty first, as the triggers write them.
    await client.query('LOCK TABLE group_dirty, usage_dirty IN SHARE ROW EXCLUSIVE MODE');
    await client.query(FOLD_SETTINGS);
    const keys = await foldGroups(client);
    const devices = await foldUsage(client);
    return { kind: 'folded', keys, devices, usage: { kind: 'with the groups' } };
  });
}

/** The groups on `client`, the usage on a second connection at the same time (see above). */
async function foldAside(client: pg.Client, second: SecondConnection): Promise<FoldOutcome> {
  const usage = countAside(second);
  let keys: number;
  try {
    keys = await pgUnitOfWork(client, async () => {
      await client.query('LOCK TABLE group_dirty IN SHARE ROW EXCLUSIVE MODE');
      await client.query(FOLD_SETTINGS);
      return foldGroups(client);
    });
  } finally {
    // Never leave the second connection running behind a failure (countAside never rejects).
    await usage;
  }
  const counted = await usage;
  if (counted.kind === 'folded') {
    return { kind: 'folded', keys, devices: counted.devices, usage: { kind: 'aside' } };
  }
  // As the native walk says why it did not load (fs/native.ts): the same figures, later.
  debugNote(`device usage folded after the groups, not beside them (${counted.why})`);
  const devices = await pgUnitOfWork(client, async () => {
    await client.query('LOCK TABLE usage_dirty IN SHARE ROW EXCLUSIVE MODE');
    await client.query(FOLD_SETTINGS);
    return foldUsage(client);
  });
  return { kind: 'folded', keys, devices, usage: { kind: 'after', why: counted.why } };
}

/** The usage fold in its own transaction on a second connection; failures become a reason. */
async function countAside(
  second: SecondConnection,
): Promise<{ kind: 'folded'; devices: number } | { kind: 'failed'; why: string }> {
  let other: pg.Client;
  try {
    other = await second();
  } catch (err) {
    return { kind: 'failed', why: `no second connection: ${message(err)}` };
  }
  try {
    const devices = await pgUnitOfWork(other, async () => {
      await other.query('LOCK TABLE usage_dirty IN SHARE ROW EXCLUSIVE MODE');
      await other.query(FOLD_SETTINGS);
      return foldUsage(other);
    });
    return { kind: 'folded', devices };
  } catch (err) {
    return { kind: 'failed', why: `the second connection failed: ${message(err)}` };
  } finally {
    await other.end().catch(() => undefined);
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The group half of a fold, in the caller's transaction holding `group_dirty`'s lock. */
async function foldGroups(client: pg.Client): Promise<number> {
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
      await client.query(`INSERT INTO group_totals (${TOTALS_COLUMNS}) ${allKeys('every device')}`);
    } else {
      await client.query(`DELETE FROM group_totals t USING group_dirty d
                           WHERE t.device_id = d.device_id AND t.sha256 = d.sha256 AND t.size = d.size`);
      await client.query(`INSERT INTO group_totals (${TOTALS_COLUMNS}) ${DIRTY_KEYS}`);
    }
    await client.query('DELETE FROM group_dirty');
  }
  return keys;
}

/** The usage half, in the caller's transaction holding `usage_dirty`'s lock. */
async function foldUsage(client: pg.Client): Promise<number> {
  const devices = await count(client, 'SELECT count(*) AS n FROM usage_dirty');
  if (devices > 0) {
    await client.query(`DELETE FROM usage_totals WHERE device_id IN (SELECT device_id FROM usage_dirty);
      INSERT INTO usage_totals (device_id, files, inodes, bytes, allocated) ${USAGE_OF(DIRTY_DEVICES)};
      DELETE FROM usage_dirty`);
  }
  return devices;
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
