/**
 * The executor lock per device on PostgreSQL. Each device a run holds has a row in
 * executor_device_lock naming the holder (host, pid, start time, plan, since when) and a
 * session advisory lock held by the holder's connection: the advisory lock is what excludes,
 * and it dies with the connection, so a holder that was killed (or whose host lost the network)
 * has released its devices; its row is then stale and replaced. Takers and releasers
 * serialise on a transaction advisory lock, so a row and its advisory lock change together;
 * waiting for it is bounded by `lock_timeout`, after which the holders are named.
 */
import type pg from 'pg';
import { UserError } from '../../errors.js';
import type { DeviceLock, ExecutorLockOps, LockAcquisition } from '../execute-port.js';
import { sameHolder, type LockHolder } from '../executor-lock.js';
import { pgUnitOfWork } from './tx.js';

/** The first key of hashall's executor advisory locks ('hash'); the second is the device id. */
export const EXECUTOR_LOCK_SPACE = 0x68617368;
/** The second key of the lock takers and releasers serialise on (no device has id 0). */
const TAKERS = 0;

interface RawLock {
  device_id: string;
  pid: string;
  start_time: string;
  hostname: string;
  plan_id: string | null;
  acquired_at: string;
}

function toLock(r: RawLock): DeviceLock {
  return {
    deviceId: Number(r.device_id),
    holder: {
      pid: Number(r.pid),
      startTime: r.start_time,
      hostname: r.hostname,
      planId: r.plan_id === null ? null : Number(r.plan_id),
      acquiredAt: Number(r.acquired_at),
    },
  };
}

function describe(l: DeviceLock): string {
  const h = l.holder;
  return `device ${l.deviceId} is being executed by pid ${h.pid} on host ${h.hostname} since ${new Date(h.acquiredAt).toISOString()}`;
}

/** Whether a device id fits the advisory lock's int4 key. */
function key(deviceId: number): number {
  if (!Number.isInteger(deviceId) || deviceId <= 0 || deviceId > 0x7fffffff)
    throw new Error(`device id ${deviceId} cannot key an executor lock`);
  return deviceId;
}

/**
 * SQL: whether the lock row `k` (of executor_device_lock) is live, its advisory lock held by
 * some connection; `$1` is EXECUTOR_LOCK_SPACE.
 */
export const LIVE_LOCK = `EXISTS (SELECT 1 FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND l.classid::int8 = $1 AND l.objid::int8 = k.device_id)`;

export interface PgExecutorLock {
  readonly ops: ExecutorLockOps;
  /** The devices this connection holds. */
  held(): readonly number[];
}

export interface PgLockOptions {
  /** How long a taker waits for another taker or releaser (ms); default 10 s. */
  readonly lockTimeoutMs?: number;
}

export function pgExecutorLock(client: pg.Client, opts: PgLockOptions = {}): PgExecutorLock {
  const held = new Set<number>();
  const timeout = opts.lockTimeoutMs ?? 10_000;

  async function rows(devices: readonly number[]): Promise<DeviceLock[]> {
    const r = await client.query<RawLock>(
      'SELECT * FROM executor_device_lock WHERE device_id = ANY($1::int8[]) ORDER BY device_id',
      [devices],
    );
    return r.rows.map(toLock);
  }

  /** Serialise with other takers and releasers for the rest of the transaction. */
  async function serialise(): Promise<void> {
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${timeout}ms`]);
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [EXECUTOR_LOCK_SPACE, TAKERS]);
  }

  /** A wait that ran out (lock_timeout), told with the holders of the devices asked for. */
  async function timedOut(err: unknown, devices: readonly number[]): Promise<unknown> {
    if ((err as { code?: string }).code !== '55P03') return err;
    const who = await rows(devices);
    return new UserError(
      `waited ${timeout} ms for the executor lock of device ${devices.join(', ')} in vain: ${
        who.length > 0
          ? who.map(describe).join('; ')
          : 'another hashall is taking or releasing executor locks'
      }; try again when it is done`,
    );
  }

  async function acquire(req: {
    readonly holder: LockHolder;
    readonly devices: readonly number[];
    readonly alive: (h: LockHolder) => boolean;
  }): Promise<LockAcquisition> {
    const devices = [...new Set(req.devices)].map(key);
    const taken: number[] = [];
    let result: LockAcquisition;
    try {
      result = await pgUnitOfWork(client, async (): Promise<LockAcquisition> => {
        await serialise();
        const current = new Map((await rows(devices)).map((l) => [l.deviceId, l]));
        const replaced: DeviceLock[] = [];
        // Devices this connection holds: a row naming another holder is asked about, as on
        // SQLite (one connection serves one process; this only happens in tests).
        for (const d of devices.filter((x) => held.has(x))) {
          const lock = current.get(d);
          if (!lock || sameHolder(lock.holder, req.holder)) continue;
          if (req.alive(lock.holder)) return { kind: 'held', lock };
          replaced.push(lock);
        }
        const want = devices.filter((d) => !held.has(d));
        if (want.length > 0) {
          const r = await client.query<{ d: string; got: boolean }>(
            `SELECT d, pg_try_advisory_lock($1, d::int4) AS got FROM unnest($2::int8[]) AS d`,
            [EXECUTOR_LOCK_SPACE, want],
          );
          for (const row of r.rows) if (row.got) taken.push(Number(row.d));
          const busy = r.rows.find((row) => !row.got);
          if (busy) {
            const d = Number(busy.d);
            const lock = current.get(d);
            if (!lock)
              throw new UserError(
                `device ${d}'s executor lock is held by a connection that names no holder; try again`,
              );
            return { kind: 'held', lock };
          }
          // Free advisory locks under a row: its holder's connection is gone.
          for (const d of want) {
            const lock = current.get(d);
            if (lock && !sameHolder(lock.holder, req.holder)) replaced.push(lock);
          }
        }
        const h = req.holder;
        await client.query(
          `INSERT INTO executor_device_lock (device_id, pid, start_time, hostname, plan_id, acquired_at)
           SELECT d, $2, $3, $4, $5, $6 FROM unnest($1::int8[]) AS d
           ON CONFLICT (device_id) DO UPDATE SET pid = excluded.pid, start_time = excluded.start_time,
                  hostname = excluded.hostname, plan_id = excluded.plan_id, acquired_at = excluded.acquired_at`,
          [devices, h.pid, h.startTime, h.hostname, h.planId, h.acquiredAt],
        );
        return { kind: 'acquired', replaced };
      });
    } catch (err) {
      await unlock(taken).catch(() => undefined);
      throw await timedOut(err, devices);
    }
    if (result.kind === 'acquired') for (const d of taken) held.add(d);
    else await unlock(taken);
    return result;
  }

  /** Session advisory locks are not transactional: give back what a failed take got. */
  async function unlock(devices: readonly number[]): Promise<void> {
    if (devices.length === 0) return;
    await client.query('SELECT pg_advisory_unlock($1, d::int4) FROM unnest($2::int8[]) AS d', [
      EXECUTOR_LOCK_SPACE,
      devices,
    ]);
  }

  return {
    held: () => [...held],
    ops: {
      acquire,
      async release(pid) {
        if (held.size === 0) return;
        const mine = [...held];
        const gone = await pgUnitOfWork(client, async () => {
          await serialise();
          const r = await client.query<{ device_id: string }>(
            `DELETE FROM executor_device_lock WHERE pid = $1 AND device_id = ANY($2::int8[])
             RETURNING device_id`,
            [pid, mine],
          );
          const ids = r.rows.map((row) => Number(row.device_id));
          // Inside the transaction: a taker waiting on it sees the row and the lock go together.
          await unlock(ids);
          return ids;
        }).catch(async (err: unknown) => {
          throw await timedOut(err, mine);
        });
        for (const d of gone) held.delete(d);
      },
      async holders() {
        // A row whose advisory lock nobody holds is stale (its holder's connection is gone).
        const r = await client.query<RawLock>(
          `SELECT k.* FROM executor_device_lock k WHERE ${LIVE_LOCK} ORDER BY k.device_id`,
          [EXECUTOR_LOCK_SPACE],
        );
        return r.rows.map(toLock);
      },
    },
  };
}
