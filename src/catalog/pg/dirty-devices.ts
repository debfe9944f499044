/**
 * Devices whose every group key is dirty, on PostgreSQL (`group_dirty_devices`, the semantics
 * of ../group-totals.ts): a first scan claims its device instead of marking its keys one by one.
 *
 * The triggers of migration 4 mark each key whose rows a statement changes. A first scan's
 * inserts change every key of its device: on the reference tree 60,000 keys, ~0.55 s of the
 * server's ~4 s (0.7–1.4 s of the scan's wall time with the marking removed, measured), and its
 * fold regroups the device anyway (every key is dirty). So a scan of a device that had no file
 * rows (`moves: 'none'`) claims the device in each transaction that writes its rows: it
 * inserts, or rewrites, the device's row of `group_dirty_devices` (`claimDevices`), and in that
 * transaction the triggers mark none of the device's keys. Readers regroup every key of a
 * device listed there; a fold rebuilds them and removes the row.
 *
 * Why only a transaction's own claim excuses its triggers (the row's xmin is the transaction's
 * id): a row another transaction committed can be removed by a fold before this one commits,
 * and the fold would not have seen this transaction's rows. A claimed row is locked by its
 * claimant until it ends, so a fold takes the rows it can lock (SKIP LOCKED) and leaves a
 * running scan's claim, whose rows it cannot see, for a later fold. A claim in a savepoint
 * (another xmin) marks keys one by one as before: slower, never wrong. The lock order stays the
 * fold's (group_dirty and usage_dirty, then the claims): a claim never waits for a fold that
 * waits for it, since the fold locks claims only once it holds the tables, which a transaction
 * whose triggers wrote to them would have kept it from.
 */
import type pg from 'pg';
import { int8Array } from './binary-array.js';

/** The first key of the claims' advisory locks ('clai'); the second is the device id. */
const CLAIM_LOCK_SPACE = 0x636c6169;

/**
 * Claim the devices for the current transaction (see the header), each only if no other
 * transaction is claiming it: a transaction takes the device's advisory lock first, without
 * waiting, and one that cannot marks its keys one by one instead. Two scans of one new device
 * would otherwise take turns, each transaction waiting for the other's claim row, and could
 * deadlock with a directory both insert. A device id beyond the lock's int4 key is not claimed.
 */
export async function claimDevices(client: pg.Client, deviceIds: readonly number[]): Promise<void> {
  const keyed = deviceIds.filter((d) => Number.isInteger(d) && d > 0 && d <= 0x7fffffff);
  if (keyed.length === 0) return;
  await client.query(
    `INSERT INTO group_dirty_devices (device_id)
     SELECT d FROM (SELECT DISTINCT unnest($1::int8[]) AS d) AS w
      WHERE pg_try_advisory_xact_lock($2, d::int4)
     ON CONFLICT (device_id) DO UPDATE SET device_id = excluded.device_id`,
    [int8Array(keyed), CLAIM_LOCK_SPACE],
  );
}

/** A row of `alias` whose device this transaction has claimed. */
const claimed = (alias: string) =>
  `EXISTS (SELECT 1 FROM group_dirty_devices m
            WHERE m.device_id = ${alias}.device_id AND m.xmin = pg_current_xact_id()::xid)`;

/**
 * The migration (appended to PG_MIGRATIONS in ./schema.ts): the table, as SQLite's (its
 * migration 16), and the key-marking triggers of migration 4, which now skip claimed devices.
 * Part of a shipped migration's text: never edit it; a change is a new migration.
 */
export const DIRTY_DEVICES_MIGRATION = `
  CREATE TABLE group_dirty_devices (
    device_id bigint NOT NULL,
    PRIMARY KEY (device_id)
  );

  CREATE OR REPLACE FUNCTION files_dirty_added() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO group_dirty (device_id, sha256, size)
      SELECT DISTINCT c.device_id, c.sha256, c.size FROM changed_rows c
       WHERE c.status = 'active' AND c.sha256 IS NOT NULL AND c.size > 0
         AND NOT ${claimed('c')}
      ON CONFLICT DO NOTHING;
    INSERT INTO usage_dirty (device_id)
      SELECT DISTINCT device_id FROM changed_rows WHERE status = 'active'
      ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;

  -- As migrations 4 and 6 (their settings too: CREATE OR REPLACE resets them).
  CREATE OR REPLACE FUNCTION files_dirty_updated() RETURNS trigger LANGUAGE plpgsql
    SET enable_nestloop = off SET jit = off AS $$
  BEGIN
    INSERT INTO group_dirty (device_id, sha256, size)
      SELECT DISTINCT s.device_id, s.sha256, s.size
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.device_id, o.sha256, o.size, o.status),
                                   (n.device_id, n.sha256, n.size, n.status))
             AS s(device_id, sha256, size, status)
       WHERE (o.device_id, o.sha256, o.size, o.status, o.inode, o.nlink, o.mode, o.uid, o.gid)
             IS DISTINCT FROM
             (n.device_id, n.sha256, n.size, n.status, n.inode, n.nlink, n.mode, n.uid, n.gid)
         AND s.status = 'active' AND s.sha256 IS NOT NULL AND s.size > 0
         AND NOT ${claimed('s')}
      ON CONFLICT DO NOTHING;
    INSERT INTO usage_dirty (device_id)
      SELECT DISTINCT s.device_id
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        CROSS JOIN LATERAL (VALUES (o.device_id, o.status), (n.device_id, n.status))
             AS s(device_id, status)
       WHERE (o.device_id, o.status, o.inode, o.size, o.blocks)
             IS DISTINCT FROM (n.device_id, n.status, n.inode, n.size, n.blocks)
         AND s.status = 'active'
      ON CONFLICT DO NOTHING;
    RETURN NULL;
  END $$;
`;
