/**
 * Forward-only schema migrations. `PRAGMA user_version` holds the version reached; a catalog
 * whose version is above the last one here was written by a newer hashall and is refused.
 * Never edit a migration that has shipped: add the next one.
 */
import type { DB } from './db.js';

export const APPLICATION_ID = 0x48534841; // 'HSHA'

/**
 * One step: SQL, or a function for a change SQLite cannot make conditional in SQL (a new
 * column: ALTER TABLE has no IF NOT EXISTS). Each step must be re-runnable: tests of older
 * catalogs set user_version back on a catalog that already has every step's changes.
 */
export type Migration = string | ((db: DB) => void);

export const MIGRATIONS: readonly Migration[] = [
  // 1: devices, scans, directories and files.
  `
  CREATE TABLE devices (
    id              INTEGER PRIMARY KEY,
    identity        TEXT    NOT NULL UNIQUE,
    identity_stable INTEGER NOT NULL,
    alias           TEXT    NOT NULL UNIQUE,
    fs_type         TEXT    NOT NULL,
    st_dev          INTEGER NOT NULL,
    mount_point     BLOB    NOT NULL,   -- where it was last seen mounted
    mount_root      BLOB    NOT NULL,   -- the mountinfo root of that mount ('/' unless a bind)
    first_seen_at   INTEGER NOT NULL,   -- unix ms
    last_seen_at    INTEGER NOT NULL
  );

  CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    root        BLOB    NOT NULL,       -- absolute path as given (resolved)
    device_id   INTEGER REFERENCES devices(id),
    fs_path     BLOB,                   -- the root as a path inside its filesystem
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
    summary     TEXT                    -- JSON of the scan's counts
  );

  -- Directory rows carry the 'last seen' of the files in them: a completely listed
  -- directory confirms every file in it, so an unchanged rescan writes one row per
  -- directory, not one per file.
  CREATE TABLE dirs (
    id               INTEGER PRIMARY KEY,
    device_id        INTEGER NOT NULL REFERENCES devices(id),
    parent_id        INTEGER REFERENCES dirs(id),
    path             BLOB    NOT NULL,  -- relative to the filesystem root, '/'-led
    status           TEXT    NOT NULL CHECK (status IN ('active', 'deleted')),
    last_listed_scan INTEGER REFERENCES scans(id),
    UNIQUE (device_id, path)
  );
  CREATE INDEX dirs_parent ON dirs(parent_id);

  CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    device_id       INTEGER NOT NULL REFERENCES devices(id),
    dir_id          INTEGER NOT NULL REFERENCES dirs(id),
    name            BLOB    NOT NULL,
    inode           INTEGER NOT NULL,
    nlink           INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    mtime_ns        INTEGER NOT NULL,
    ctime_ns        INTEGER NOT NULL,
    mode            INTEGER NOT NULL,
    uid             INTEGER NOT NULL,
    gid             INTEGER NOT NULL,
    prefix_hash     BLOB,               -- SHA-256 of the first 4 KiB
    sha256          BLOB,               -- SHA-256 of the whole content
    status          TEXT    NOT NULL CHECK (status IN ('active', 'deleted')),
    first_seen_scan INTEGER NOT NULL REFERENCES scans(id),
    changed_scan    INTEGER NOT NULL REFERENCES scans(id),
    deleted_scan    INTEGER REFERENCES scans(id),
    UNIQUE (dir_id, name)
  );
  CREATE INDEX files_inode ON files(device_id, inode);
  CREATE INDEX files_active_size ON files(size, device_id, inode) WHERE status = 'active';
  CREATE INDEX files_sha256 ON files(sha256) WHERE sha256 IS NOT NULL;
  -- Serves the candidate search: rows still without a prefix hash, by size.
  CREATE INDEX files_unhashed ON files(size) WHERE status = 'active' AND prefix_hash IS NULL;

  -- Full paths, and 'last seen' taken from the directory that confirmed the file.
  CREATE VIEW file_paths AS
    SELECT f.*,
           -- || yields TEXT; the CAST gives the bytes back as a BLOB, untouched.
           CAST(CASE WHEN d.path = X'2f' THEN X'2f' || f.name ELSE d.path || X'2f' || f.name END AS BLOB) AS path,
           d.last_listed_scan AS last_seen_scan
      FROM files f JOIN dirs d ON d.id = f.dir_id;
  `,
  // 2: the conductor — plans, their actions, the execution journal and the executor lock.
  `
  CREATE TABLE conductor_plans (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN
                          ('pending', 'executing', 'executed', 'partial', 'interrupted')),
    created_at          INTEGER NOT NULL,
    executed_at         INTEGER,
    options             TEXT    NOT NULL,      -- JSON: device, keep rule, same/cross device
    total_opportunities INTEGER NOT NULL,      -- inodes a full run frees
    total_bytes_saveable INTEGER NOT NULL,
    pending_groups      INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE conductor_actions (
    id              INTEGER PRIMARY KEY,
    plan_id         INTEGER NOT NULL REFERENCES conductor_plans(id) ON DELETE CASCADE,
    group_no        INTEGER NOT NULL,
    action_type     TEXT    NOT NULL CHECK (action_type IN ('HARDLINK', 'NOOP', 'SKIP')),
    device_id       INTEGER NOT NULL REFERENCES devices(id),
    group_hash      BLOB,                      -- SHA-256 of the content (NULL for link-only groups)
    size            INTEGER NOT NULL,
    source_device_id INTEGER NOT NULL REFERENCES devices(id),
    source_path     BLOB    NOT NULL,          -- inside its filesystem, '/'-led
    target_path     BLOB    NOT NULL,
    -- What execute must still find on disk: (inode, size, mtime_ns, ctime_ns) of both.
    source_inode    INTEGER NOT NULL,
    source_mtime_ns INTEGER NOT NULL,
    source_ctime_ns INTEGER NOT NULL,
    target_inode    INTEGER NOT NULL,
    target_mtime_ns INTEGER NOT NULL,
    target_ctime_ns INTEGER NOT NULL,
    target_nlink    INTEGER NOT NULL,
    bytes_to_save   INTEGER NOT NULL,          -- the inode's size on the action that frees it, else 0
    keep_rule       TEXT,
    reason          TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'executed', 'noop', 'failed', 'skipped')),
    error           TEXT,
    executed_at     INTEGER
  );
  CREATE INDEX conductor_actions_plan ON conductor_actions(plan_id, action_type, bytes_to_save);

  -- Intent before, outcome after: a row here is an action whose outcome is not yet recorded.
  CREATE TABLE conductor_journal (
    action_id   INTEGER PRIMARY KEY REFERENCES conductor_actions(id) ON DELETE CASCADE,
    plan_id     INTEGER NOT NULL,
    source_abs  BLOB    NOT NULL,
    target_abs  BLOB    NOT NULL,
    temp_abs    BLOB    NOT NULL,
    started_at  INTEGER NOT NULL
  );

  CREATE TABLE executor_lock (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    pid         INTEGER NOT NULL,
    start_time  TEXT    NOT NULL,              -- /proc/PID/stat start time: guards against pid reuse
    hostname    TEXT    NOT NULL,
    plan_id     INTEGER,
    acquired_at INTEGER NOT NULL
  );
  `,
  // 3: what an execution did to an inode's ctime and link count, once per inode: the plan's
  // remaining actions accept these values as our own doing (linking changes ctime).
  `
  CREATE TABLE conductor_inode_state (
    plan_id   INTEGER NOT NULL REFERENCES conductor_plans(id) ON DELETE CASCADE,
    device_id INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL,
    nlink     INTEGER NOT NULL,
    PRIMARY KEY (plan_id, device_id, inode)
  ) WITHOUT ROWID;
  `,
  // 4: allocated blocks, so that sparse files are reported by what they occupy as well.
  `
  ALTER TABLE files ADD COLUMN blocks INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: which process runs a scan, so that a scan killed mid-way is recognised later.
  `
  ALTER TABLE scans ADD COLUMN pid INTEGER;
  ALTER TABLE scans ADD COLUMN pid_start_time TEXT;
  `,
  // 6: inodes waiting for the full hash (prefix known, SHA-256 not): a rescan and analyze look
  // them up instead of scanning every row of the catalog. Hashed rows indexed in grouping order
  // (content, device, size, inode), so duplicate groups stream out of the index unsorted.
  `
  CREATE INDEX files_prefix_only ON files(size, prefix_hash)
    WHERE status = 'active' AND sha256 IS NULL AND prefix_hash IS NOT NULL;
  DROP INDEX files_sha256;
  CREATE INDEX files_hashed ON files(sha256, device_id, size, inode)
    WHERE status = 'active' AND sha256 IS NOT NULL;
  `,
  // 7: the inode of the clone a reflink action made, journaled before the clone is renamed over
  // its target, so that recovery tells our clone from anything else that may stand at the target.
  `
  ALTER TABLE conductor_journal ADD COLUMN temp_inode INTEGER;
  `,
  // 8: the catalog row of an action's target, so that execute updates it by row id instead of
  // looking its path up (NULL in plans made before: those still look the path up).
  `
  ALTER TABLE conductor_actions ADD COLUMN target_file_id INTEGER;
  `,
  // 9 (scope): the directories a plan was limited to (`plan NAME PATH...`), as byte paths: the
  // path inside the filesystem that the plan matched, and the absolute path the user named.
  `
  CREATE TABLE IF NOT EXISTS conductor_plan_scope (
    plan_id   INTEGER NOT NULL REFERENCES conductor_plans(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    fs_path   BLOB    NOT NULL,
    path      BLOB    NOT NULL,
    PRIMARY KEY (plan_id, position)
  ) WITHOUT ROWID;
  `,
  // 10 (undo, issue 12 §5): what a hardlink action's target was before execute replaced it (its
  // owner, group, mode and times, recorded with the intent), so that `conductor undo` gives it
  // back; the undo's per-action outcome; the plan's undo state (its status CHECK cannot be
  // widened in place); and the undo journal (intent before, outcome after, like execute's).
  `
  ALTER TABLE conductor_actions ADD COLUMN orig_uid INTEGER;
  ALTER TABLE conductor_actions ADD COLUMN orig_gid INTEGER;
  ALTER TABLE conductor_actions ADD COLUMN orig_mode INTEGER;
  ALTER TABLE conductor_actions ADD COLUMN orig_atime_ns INTEGER;
  ALTER TABLE conductor_actions ADD COLUMN orig_mtime_ns INTEGER;
  ALTER TABLE conductor_actions ADD COLUMN undo_status TEXT
    CHECK (undo_status IN ('undone', 'left', 'failed'));
  ALTER TABLE conductor_actions ADD COLUMN undo_error TEXT;
  ALTER TABLE conductor_plans ADD COLUMN undo_status TEXT
    CHECK (undo_status IN ('undoing', 'undone', 'partially-undone'));
  CREATE TABLE conductor_undo_journal (
    action_id   INTEGER PRIMARY KEY REFERENCES conductor_actions(id) ON DELETE CASCADE,
    plan_id     INTEGER NOT NULL,
    source_abs  BLOB    NOT NULL,              -- a path of the kept inode
    target_abs  BLOB    NOT NULL,
    temp_abs    BLOB    NOT NULL,
    temp_inode  INTEGER,                       -- the copy, journaled before it is renamed
    started_at  INTEGER NOT NULL
  );
  `,
  // 11 (hosts, issue 15): the hosts that use this catalog, one row per machine identity
  // (/etc/machine-id, or the hostname when a machine has none); the PostgreSQL schema has the
  // same table (src/catalog/pg/schema.ts). README "Several hosts" says how devices relate.
  // IF NOT EXISTS: a catalog whose user_version was set back (tests of older catalogs) keeps it.
  `
  CREATE TABLE IF NOT EXISTS hosts (
    id            INTEGER PRIMARY KEY,
    machine_id    TEXT    NOT NULL UNIQUE,
    hostname      TEXT    NOT NULL,          -- as last seen: a host may be renamed
    first_seen_at INTEGER NOT NULL,          -- unix ms
    last_seen_at  INTEGER NOT NULL
  );
  `,
  // 12 (executor lock per device, issue 15): one row per device an executor holds, so hosts
  // (or processes) executing plans on disjoint devices run in parallel. The catalog-wide
  // executor_lock row of migration 1 is no longer written; the PostgreSQL schema has the same
  // table (src/catalog/pg/schema.ts), where an advisory lock per device backs each row.
  `
  CREATE TABLE IF NOT EXISTS executor_device_lock (
    device_id   INTEGER PRIMARY KEY,
    pid         INTEGER NOT NULL,
    start_time  TEXT    NOT NULL,          -- the holder's process start time (pid reuse)
    hostname    TEXT    NOT NULL,
    plan_id     INTEGER,
    acquired_at INTEGER NOT NULL           -- unix ms
  );
  `,
  // 13 (rescan, issue 14): a directory's listing fingerprint, stored once a finished scan merged
  // the listing it digests (src/catalog/listing-fingerprint.ts); a rescan that lists the same
  // fingerprint skips the directory's rows. X'' marks a merge whose scan has not finished. Any
  // other write to what a rescan compares in a file row forgets its directory's fingerprint;
  // rows are inserted only by a scan's merge, which marks the directory first. The PostgreSQL
  // schema has the same (src/catalog/pg/schema.ts).
  `
  ALTER TABLE dirs ADD COLUMN listing_fp BLOB;
  CREATE TRIGGER files_forget_listing_fp
    AFTER UPDATE OF dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, blocks, status
    ON files
  BEGIN
    UPDATE dirs SET listing_fp = NULL WHERE id IN (OLD.dir_id, NEW.dir_id) AND listing_fp IS NOT NULL;
  END;
  CREATE TRIGGER files_forget_listing_fp_on_delete AFTER DELETE ON files
  BEGIN
    UPDATE dirs SET listing_fp = NULL WHERE id = OLD.dir_id AND listing_fp IS NOT NULL;
  END;
  `,
  // 14 (analyze, issue 14): stored totals, so analyze does not regroup an unchanged catalog.
  // Same-device group totals, one row per (device, sha256, size) with two or more inodes, and
  // the keys whose rows changed since (group-totals.ts); per-device usage and the devices whose
  // rows changed (usage-totals.ts). Triggers record what is dirty in the transaction that
  // changes the rows; a first scan's inserts of unhashed rows fail the group triggers' WHEN
  // clause. Both are built here from the rows, so an older catalog reports the same figures.
  `
  CREATE TABLE IF NOT EXISTS group_totals (
    device_id INTEGER NOT NULL,
    sha256    BLOB    NOT NULL,
    size      INTEGER NOT NULL,
    inodes    INTEGER NOT NULL,
    paths     INTEGER NOT NULL,
    pinned    INTEGER NOT NULL,
    classes   INTEGER NOT NULL,
    saveable  INTEGER NOT NULL,
    PRIMARY KEY (device_id, sha256, size)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS group_dirty (
    device_id INTEGER NOT NULL,
    sha256    BLOB    NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (device_id, sha256, size)
  ) WITHOUT ROWID;
  CREATE TRIGGER IF NOT EXISTS files_group_insert AFTER INSERT ON files
    WHEN new.status = 'active' AND new.sha256 IS NOT NULL AND new.size > 0
  BEGIN
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      VALUES (new.device_id, new.sha256, new.size);
  END;
  CREATE TRIGGER IF NOT EXISTS files_group_delete AFTER DELETE ON files
    WHEN old.status = 'active' AND old.sha256 IS NOT NULL AND old.size > 0
  BEGIN
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      VALUES (old.device_id, old.sha256, old.size);
  END;
  -- Every column a group's figures depend on; a row that counts before or after.
  CREATE TRIGGER IF NOT EXISTS files_group_update
    AFTER UPDATE OF device_id, sha256, size, status, inode, nlink, mode, uid, gid ON files
    WHEN ((old.status = 'active' AND old.sha256 IS NOT NULL AND old.size > 0)
          OR (new.status = 'active' AND new.sha256 IS NOT NULL AND new.size > 0))
     AND (old.device_id IS NOT new.device_id OR old.sha256 IS NOT new.sha256
          OR old.size IS NOT new.size OR old.status IS NOT new.status OR old.inode IS NOT new.inode
          OR old.nlink IS NOT new.nlink OR old.mode IS NOT new.mode OR old.uid IS NOT new.uid
          OR old.gid IS NOT new.gid)
  BEGIN
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      SELECT old.device_id, old.sha256, old.size
       WHERE old.status = 'active' AND old.sha256 IS NOT NULL AND old.size > 0;
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      SELECT new.device_id, new.sha256, new.size
       WHERE new.status = 'active' AND new.sha256 IS NOT NULL AND new.size > 0;
  END;
  -- Per-device usage (usage-totals.ts): a device is dirty once any of its active rows changed.
  CREATE TABLE IF NOT EXISTS usage_totals (
    device_id INTEGER NOT NULL,
    files     INTEGER NOT NULL,
    inodes    INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    allocated INTEGER NOT NULL,
    PRIMARY KEY (device_id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS usage_dirty (
    device_id INTEGER NOT NULL,
    PRIMARY KEY (device_id)
  ) WITHOUT ROWID;
  CREATE TRIGGER IF NOT EXISTS files_usage_insert AFTER INSERT ON files
    WHEN new.status = 'active'
  BEGIN
    INSERT OR IGNORE INTO usage_dirty (device_id) VALUES (new.device_id);
  END;
  CREATE TRIGGER IF NOT EXISTS files_usage_delete AFTER DELETE ON files
    WHEN old.status = 'active'
  BEGIN
    INSERT OR IGNORE INTO usage_dirty (device_id) VALUES (old.device_id);
  END;
  CREATE TRIGGER IF NOT EXISTS files_usage_update
    AFTER UPDATE OF device_id, status, inode, size, blocks ON files
    WHEN (old.status = 'active' OR new.status = 'active')
     AND (old.device_id IS NOT new.device_id OR old.status IS NOT new.status
          OR old.inode IS NOT new.inode OR old.size IS NOT new.size OR old.blocks IS NOT new.blocks)
  BEGIN
    INSERT OR IGNORE INTO usage_dirty (device_id) SELECT old.device_id WHERE old.status = 'active';
    INSERT OR IGNORE INTO usage_dirty (device_id) SELECT new.device_id WHERE new.status = 'active';
  END;
  DELETE FROM usage_totals;
  DELETE FROM usage_dirty;
  INSERT INTO usage_totals (device_id, files, inodes, bytes, allocated)
  SELECT device_id, sum(paths), count(*), sum(size), sum(blocks) * 512
    FROM (SELECT device_id, inode, count(*) AS paths, max(size) AS size, max(blocks) AS blocks
            FROM files WHERE status = 'active' GROUP BY device_id, inode)
   GROUP BY device_id;
  -- Written out rather than shared with group-totals.ts: a shipped migration never changes.
  DELETE FROM group_totals;
  DELETE FROM group_dirty;
  INSERT INTO group_totals (device_id, sha256, size, inodes, paths, pinned, classes, saveable)
  SELECT device_id, sha256, size, count(*), sum(paths), sum(nlink > paths), count(DISTINCT class),
         (count(*) - max(sum(nlink > paths), 1)) * size
    FROM (SELECT device_id, sha256, size, inode, max(nlink) AS nlink, count(*) AS paths,
                 max(mode) || ':' || max(uid) || ':' || max(gid) AS class
            FROM files INDEXED BY files_hashed
           WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0
           GROUP BY sha256, device_id, size, inode)
   GROUP BY sha256, device_id, size
  HAVING count(*) > 1;
  `,
  // 15 (hosts and devices, issue 15): where each host mounts each device (README "Several
  // hosts"), written by scans; the devices row keeps where any host saw it last. Rows of a
  // catalog from before hosts are added when its host scans the device again. Which host runs
  // a scan: only that host can tell whether the scan's process is gone (a table of its own, not
  // a column: IF NOT EXISTS keeps the migration re-runnable on a catalog whose user_version was
  // set back). The PostgreSQL schema has the same (src/catalog/pg/schema.ts).
  `
  CREATE TABLE IF NOT EXISTS scan_hosts (
    scan_id INTEGER PRIMARY KEY REFERENCES scans(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id)
  );
  CREATE TABLE IF NOT EXISTS device_mounts (
    host_id       INTEGER NOT NULL REFERENCES hosts(id),
    device_id     INTEGER NOT NULL REFERENCES devices(id),
    mount_point   BLOB    NOT NULL,          -- where this host last saw it mounted
    mount_root    BLOB    NOT NULL,          -- the mountinfo root of that mount
    st_dev        INTEGER NOT NULL,          -- its device number on this host
    first_seen_at INTEGER NOT NULL,          -- unix ms
    last_seen_at  INTEGER NOT NULL,
    PRIMARY KEY (host_id, device_id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS device_mounts_device ON device_mounts(device_id);
  `,
  // 16 (issue 15): devices whose every group key is dirty (group-totals.ts). A PostgreSQL first
  // scan lists its device there instead of marking its keys one by one (pg/dirty-devices.ts);
  // SQLite's readers and fold honour the table (a catalog copied from PostgreSQL may hold rows).
  `
  CREATE TABLE IF NOT EXISTS group_dirty_devices (
    device_id INTEGER NOT NULL,
    PRIMARY KEY (device_id)
  ) WITHOUT ROWID;
  `,
  // 17 (issue 14): a SQLite first scan claims its device too (group-totals.ts, claimDevice), and
  // the key-marking triggers of migration 14 skip a claimed device's keys: marking each of a
  // first scan's keys was a random insert into group_dirty per hashed row, for a fold that
  // regroups the whole device anyway. SQLite runs one writer at a time, so any claim on record
  // stands for every writer until the fold that rebuilds the device removes it, in one
  // transaction that sees every committed row. The triggers are otherwise migration 14's.
  `
  DROP TRIGGER IF EXISTS files_group_insert;
  DROP TRIGGER IF EXISTS files_group_delete;
  DROP TRIGGER IF EXISTS files_group_update;
  CREATE TRIGGER files_group_insert AFTER INSERT ON files
    WHEN new.status = 'active' AND new.sha256 IS NOT NULL AND new.size > 0
     AND NOT EXISTS (SELECT 1 FROM group_dirty_devices c WHERE c.device_id = new.device_id)
  BEGIN
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      VALUES (new.device_id, new.sha256, new.size);
  END;
  CREATE TRIGGER files_group_delete AFTER DELETE ON files
    WHEN old.status = 'active' AND old.sha256 IS NOT NULL AND old.size > 0
     AND NOT EXISTS (SELECT 1 FROM group_dirty_devices c WHERE c.device_id = old.device_id)
  BEGIN
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      VALUES (old.device_id, old.sha256, old.size);
  END;
  CREATE TRIGGER files_group_update
    AFTER UPDATE OF device_id, sha256, size, status, inode, nlink, mode, uid, gid ON files
    WHEN ((old.status = 'active' AND old.sha256 IS NOT NULL AND old.size > 0)
          OR (new.status = 'active' AND new.sha256 IS NOT NULL AND new.size > 0))
     AND (old.device_id IS NOT new.device_id OR old.sha256 IS NOT new.sha256
          OR old.size IS NOT new.size OR old.status IS NOT new.status OR old.inode IS NOT new.inode
          OR old.nlink IS NOT new.nlink OR old.mode IS NOT new.mode OR old.uid IS NOT new.uid
          OR old.gid IS NOT new.gid)
  BEGIN
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      SELECT old.device_id, old.sha256, old.size
       WHERE old.status = 'active' AND old.sha256 IS NOT NULL AND old.size > 0
         AND NOT EXISTS (SELECT 1 FROM group_dirty_devices c WHERE c.device_id = old.device_id);
    INSERT OR IGNORE INTO group_dirty (device_id, sha256, size)
      SELECT new.device_id, new.sha256, new.size
       WHERE new.status = 'active' AND new.sha256 IS NOT NULL AND new.size > 0
         AND NOT EXISTS (SELECT 1 FROM group_dirty_devices c WHERE c.device_id = new.device_id);
  END;
  `,
  // 18 (issue 14): the unhashed rows' index holds device and inode too, so the candidate search
  // (hashing.ts: each scan's prefix stage, analyze's pending count) tests a row's size
  // collision from the index alone instead of reading its table row. Files with a size no other
  // file has are never hashed and stay in this index for good, so the search visits all of them
  // on every scan and every analyze: 4,337 rows on the reference tree, 6.7 ms against 1.9 ms.
  `
  DROP INDEX IF EXISTS files_unhashed;
  CREATE INDEX files_unhashed ON files(size, device_id, inode)
    WHERE status = 'active' AND prefix_hash IS NULL;
  `,
  // 19 (issue 14): migration 13's fingerprint trigger, one statement per directory. Its
  // `id IN (OLD.dir_id, NEW.dir_id)` built an ephemeral table on every firing, which every
  // update of a file row paid. Replaying the reference tree's execute writes (27,000 replaced
  // rows, then their inodes' link counts) those statements took 1.7-2.4 s with it, 1.0-1.5 s
  // without. Nothing of ours moves a row to another directory; the second statement keeps the
  // trigger whole for one that would.
  `
  DROP TRIGGER IF EXISTS files_forget_listing_fp;
  CREATE TRIGGER files_forget_listing_fp
    AFTER UPDATE OF dir_id, name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, blocks, status
    ON files
  BEGIN
    UPDATE dirs SET listing_fp = NULL WHERE id = OLD.dir_id AND listing_fp IS NOT NULL;
    UPDATE dirs SET listing_fp = NULL
     WHERE NEW.dir_id IS NOT OLD.dir_id AND id = NEW.dir_id AND listing_fp IS NOT NULL;
  END;
  `,
  // 20 (issue 14): the suffix digest, SHA-256 of the last 4 KiB of a file past 64 KiB, read with
  // its prefix (src/scan/hash-job.ts SUFFIX_BYTES). NULL on an older catalog's rows: those pair
  // on size and prefix as before (hashing.ts SUFFIXES_AGREE), so nothing is read again. Not in
  // any index, nor in a trigger's column list: it only narrows the full stage's candidates.
  // The PostgreSQL schema has the same (src/catalog/pg/schema.ts, migration 11).
  (db) => {
    const columns = db.pragma('table_info(files)') as { name: string }[];
    if (!columns.some((c) => c.name === 'suffix_hash'))
      db.exec('ALTER TABLE files ADD COLUMN suffix_hash BLOB');
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
