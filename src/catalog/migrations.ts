/**
 * Forward-only schema migrations. `PRAGMA user_version` holds the version reached; a catalog
 * whose version is above the last one here was written by a newer hashall and is refused.
 * Never edit a migration that has shipped: add the next one.
 */
export const APPLICATION_ID = 0x48534841; // 'HSHA'

export const MIGRATIONS: readonly string[] = [
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
];

export const SCHEMA_VERSION = MIGRATIONS.length;
