/**
 * The tree merge of one scan on PostgreSQL: ScanTree of the scan port (../scan-port.ts) with
 * the semantics of ../tree.ts and ../listing-merge.ts. A directory's listing travels as arrays
 * (unnest) and is merged by a fixed number of statements, whatever its size: the directory's
 * row (one look-up; more only for a new directory without its parent's id), one statement that
 * compares and updates the listed files' rows, and one that parks what the directory no longer
 * holds, marks it listed and probes the fresh inodes; a new directory whose parent's id the
 * walk knows, by the one statement that inserts its row (dir-row.ts); one below a directory
 * this transaction inserted, by no statement of its own: its row and its files' rows are
 * written behind the walk with many others (write-behind.ts). Parked rows wait in
 * session temporary tables, marked deleted only by applyDeletions (a finished scan).
 */
import type pg from 'pg';
import { ROOT_PATH, joinPath, parentOf } from '../../paths.js';
import type { ListedFile, MergedListing } from '../listing-merge.js';
import type { NewFileRow, ScanTree } from '../scan-port.js';
import type { MergeOutcome } from '../tree.js';
import { pgDirFingerprintOps } from './dir-fingerprints.js';
import { lookUpOrCreateDir } from './dir-row.js';
import { anythingParked, applyPendingFingerprints } from './parked.js';
import { pgInTransaction } from './tx.js';
import { writeBehind } from './write-behind.js';

/** The walk's outcome for a listed file, as the update statement classifies it. */
type Outcome = MergeOutcome | 'fresh';

type DirRow = { readonly id: string; readonly status: string } | undefined;

/** Which new single-link files' inodes some row of the device holds (possible moves). */
async function probeInodes(
  client: pg.Client,
  deviceId: number,
  inodes: readonly bigint[],
): Promise<Set<bigint>> {
  if (inodes.length === 0) return new Set();
  // Rows written behind the walk are rows of the device too.
  await writeBehind(client).sync();
  const r = await client.query<{ inode: string }>(
    'SELECT DISTINCT inode FROM files WHERE device_id = $1 AND inode = ANY($2::int8[])',
    [deviceId, inodes],
  );
  return new Set(r.rows.map((row) => BigInt(row.inode)));
}

async function ensureDir(
  client: pg.Client,
  deviceId: number,
  path: Buffer,
  parentId: number | undefined,
  found?: { readonly row: DirRow },
): Promise<{ readonly id: number; readonly inserted: boolean }> {
  // `found`: the caller looked the row up already (it may have found none).
  const row = found
    ? found.row
    : (
        await client.query<{ id: string; status: string }>(
          'SELECT id, status FROM dirs WHERE device_id = $1 AND path = $2',
          [deviceId, path],
        )
      ).rows[0];
  if (row && row.status === 'active') return { id: Number(row.id), inserted: false };
  const pid =
    parentId ??
    (path.equals(ROOT_PATH)
      ? null
      : (await ensureDir(client, deviceId, parentOf(path), undefined)).id);
  if (row) {
    await client.query(`UPDATE dirs SET status = 'active', parent_id = $1 WHERE id = $2`, [
      pid,
      row.id,
    ]);
    return { id: Number(row.id), inserted: false };
  }
  const ins = await client.query<{ id: string }>(
    `INSERT INTO dirs (device_id, parent_id, path, status) VALUES ($1, $2, $3, 'active') RETURNING id`,
    [deviceId, pid, path],
  );
  return { id: Number(ins.rows[0]!.id), inserted: true };
}

/**
 * The directory's row, in one round trip; when it is active and holds the listing's
 * fingerprint (../listing-fingerprint.ts), it is marked listed by the same statement and its
 * rows need no merge.
 */
async function lookUpDir(
  client: pg.Client,
  p: { scanId: number; deviceId: number; path: Buffer; fingerprint: Buffer | undefined },
): Promise<{ row: DirRow; unchanged: boolean }> {
  const r = await client.query<{ id: string; status: string; unchanged: boolean }>(
    `WITH d AS (SELECT id, status, listing_fp FROM dirs WHERE device_id = $1 AND path = $2),
          s AS (UPDATE dirs SET last_listed_scan = $3 FROM d
                 WHERE dirs.id = d.id AND d.status = 'active' AND d.listing_fp = $4
                RETURNING dirs.id)
     SELECT d.id, d.status, EXISTS (SELECT 1 FROM s) AS unchanged FROM d`,
    [p.deviceId, p.path, p.scanId, p.fingerprint ?? null],
  );
  const row = r.rows[0];
  return { row, unchanged: row?.unchanged === true };
}

/**
 * Compare the listed files with their rows and update those that differ, in one statement.
 * Unchanged means (inode, size, mtime_ns, ctime_ns) equal; a deleted row whose identity is
 * intact comes back with its hashes, anything else drops them. Returns each file's outcome,
 * in listing order.
 */
async function mergeFiles(
  client: pg.Client,
  scanId: number,
  dirId: number,
  files: readonly ListedFile[],
): Promise<Outcome[]> {
  if (files.length === 0) return [];
  const col = <T>(f: (x: ListedFile) => T): T[] => files.map(f);
  const r = await client.query<{ outcome: Outcome }>(
    `WITH l AS (
       SELECT * FROM unnest($3::bytea[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[],
                            $9::int8[], $10::int8[], $11::int8[], $12::int8[])
              WITH ORDINALITY AS l(name, inode, nlink, size, mtime_ns, ctime_ns, mode, uid, gid, blocks, ord)),
     e AS (
       SELECT l.ord, f.id, f.status = 'active' AS active,
              (f.inode = l.inode AND f.size = l.size AND f.mtime_ns = l.mtime_ns
               AND f.ctime_ns = l.ctime_ns) AS same
         FROM l JOIN files f ON f.dir_id = $1 AND f.name = l.name),
     u AS (
       UPDATE files f
          SET inode = l.inode, nlink = l.nlink, size = l.size, mtime_ns = l.mtime_ns,
              ctime_ns = l.ctime_ns, mode = l.mode, uid = l.uid, gid = l.gid, blocks = l.blocks,
              prefix_hash = CASE WHEN e.same THEN f.prefix_hash END,
              suffix_hash = CASE WHEN e.same THEN f.suffix_hash END,
              sha256 = CASE WHEN e.same THEN f.sha256 END,
              status = 'active', changed_scan = $2, deleted_scan = NULL
         FROM e JOIN l ON l.ord = e.ord
        WHERE f.id = e.id AND NOT (e.same AND e.active))
     SELECT CASE WHEN e.id IS NULL THEN 'fresh'
                 WHEN e.same AND e.active THEN 'unchanged'
                 WHEN e.active THEN 'changed'
                 ELSE 'new' END AS outcome
       FROM l LEFT JOIN e ON e.ord = l.ord ORDER BY l.ord`,
    [
      dirId,
      scanId,
      col((f) => f.name),
      col((f) => f.meta.inode),
      col((f) => f.meta.nlink),
      col((f) => f.meta.size),
      col((f) => f.meta.mtimeNs),
      col((f) => f.meta.ctimeNs),
      col((f) => f.meta.mode),
      col((f) => f.meta.uid),
      col((f) => f.meta.gid),
      col((f) => f.meta.blocks),
    ],
  );
  return r.rows.map((row) => row.outcome);
}

export async function pgScanTree(client: pg.Client, scanId: number): Promise<ScanTree> {
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS gone_files (file_id bigint PRIMARY KEY);
                      CREATE TEMP TABLE IF NOT EXISTS gone_dirs (dir_id bigint PRIMARY KEY);
                      CREATE TEMP TABLE IF NOT EXISTS pending_fps (dir_id bigint PRIMARY KEY, fp bytea NOT NULL);
                      TRUNCATE pg_temp.gone_files, pg_temp.gone_dirs, pg_temp.pending_fps`);
  const wb = writeBehind(client);
  wb.startTree();
  const discardParked = async (): Promise<void> => {
    // What the walk saw is kept: what it wrote behind is written (write-behind.ts).
    await wb.sync();
    // The marked directories keep their marker: no fingerprint (../listing-fingerprint.ts).
    await client.query('TRUNCATE pg_temp.gone_files, pg_temp.gone_dirs, pg_temp.pending_fps');
  };
  return {
    ...pgDirFingerprintOps(client, scanId),
    async mergeListing(l): Promise<MergedListing> {
      const noneYet = { new: 0, changed: 0, unchanged: 0 };
      // A device's first scan: every key of the device is dirty, so its transactions claim
      // the device rather than mark each key (dirty-devices.ts).
      if (l.moves === 'none' && pgInTransaction(client)) wb.claimDevice(l.deviceId);
      if (
        l.parentDirId !== undefined &&
        l.moves !== 'probe' &&
        wb.insertedByThisScan(l.parentDirId) &&
        pgInTransaction(client)
      ) {
        // Below a directory this scan inserted: new, its row written behind the walk
        // (dir-rows.ts), every listed file new, nothing to park or probe. (Another scan may
        // have inserted it since the parent's row was committed: its row is then taken.)
        const dirId = await wb.addDir({
          deviceId: l.deviceId,
          parentId: l.parentDirId,
          path: l.fsPath,
          scanId,
          fingerprint: l.fingerprint,
        });
        return { dirId, counts: noneYet, fresh: l.files, knownInodes: new Set() };
      }
      // A directory whose parent was there before this scan (or a rescan's new one, whose files
      // may be moves): its own row, looked up or inserted, in one round trip behind what was
      // sent. Its parent's row, when this scan queued it, is written first: it may turn out to
      // be another scan's.
      if (l.parentDirId !== undefined && wb.insertedByThisScan(l.parentDirId)) {
        await wb.sync();
      }
      const parentDirId = l.parentDirId === undefined ? undefined : wb.resolveDir(l.parentDirId);
      const dir = { scanId, deviceId: l.deviceId, path: l.fsPath, fingerprint: l.fingerprint };
      const looked = await lookUpOrCreateDir(client, { ...dir, parentId: parentDirId });
      if (looked.kind === 'created') {
        if (pgInTransaction(client)) wb.noteInserted(looked.id);
        // A new directory: every listed file is new, nothing to park (dir-row.ts).
        const probe =
          l.moves === 'probe'
            ? l.files.filter((f) => f.meta.nlink === 1).map((f) => f.meta.inode)
            : [];
        const knownInodes = await probeInodes(client, l.deviceId, probe);
        return { dirId: looked.id, counts: noneYet, fresh: l.files, knownInodes };
      }
      // The statements below read and write rows the walk may have queued.
      await wb.sync();
      // None found: another scan may have inserted it since this statement's snapshot.
      const found = looked.row ? looked : await lookUpDir(client, dir);
      if (found.unchanged) {
        // The listing its rows were merged from: all unchanged, nothing new, nothing gone.
        const counts = { new: 0, changed: 0, unchanged: l.files.length };
        return { dirId: Number(found.row!.id), counts, fresh: [], knownInodes: new Set() };
      }
      const ensured = await ensureDir(client, l.deviceId, l.fsPath, parentDirId, found);
      const dirId = ensured.id;
      // A row this statement inserted (a scan's root, say): what is below it is new too.
      if (ensured.inserted && pgInTransaction(client)) wb.noteInserted(dirId);
      const outcomes = await mergeFiles(client, scanId, dirId, l.files);
      const counts = { new: 0, changed: 0, unchanged: 0 };
      const fresh: ListedFile[] = [];
      outcomes.forEach((o, i) => {
        if (o === 'fresh') fresh.push(l.files[i]!);
        else counts[o]++;
      });
      // Asked after the rows above were updated (a separate statement: a replaced file's row
      // now has its new inode) and before any fresh file is inserted.
      const probe =
        l.moves === 'probe' ? fresh.filter((f) => f.meta.nlink === 1).map((f) => f.meta.inode) : [];
      // (Rows written behind the walk were written by the sync above: the probe sees them.)
      const stay = [...l.files.map((f) => f.name), ...l.kept];
      const present = [...l.subdirs, ...l.kept].map((n) => joinPath(l.fsPath, n));
      // Rows not listed as a regular file in a completely listed directory are parked; so are
      // subdirectories no longer present. The directory is marked listed, and marked merging
      // (after the statements above: its stored fingerprint is forgotten, the listing's kept
      // for when the scan finishes, ../listing-fingerprint.ts).
      const r = await client.query<{ inode: string }>(
        `WITH pf AS (
           INSERT INTO pg_temp.gone_files (file_id)
             SELECT id FROM files WHERE dir_id = $1 AND status = 'active' AND NOT (name = ANY($2::bytea[]))
           ON CONFLICT DO NOTHING),
         pd AS (
           INSERT INTO pg_temp.gone_dirs (dir_id)
             SELECT id FROM dirs WHERE parent_id = $1 AND status = 'active' AND NOT (path = ANY($3::bytea[]))
           ON CONFLICT DO NOTHING),
         ml AS (UPDATE dirs SET last_listed_scan = $4, listing_fp = '\\x'::bytea WHERE id = $1),
         fp AS (
           INSERT INTO pg_temp.pending_fps (dir_id, fp) SELECT $1, $7::bytea WHERE $7::bytea IS NOT NULL
           ON CONFLICT (dir_id) DO UPDATE SET fp = excluded.fp)
         SELECT DISTINCT inode FROM files WHERE device_id = $5 AND inode = ANY($6::int8[])`,
        [dirId, stay, present, scanId, l.deviceId, probe, l.fingerprint ?? null],
      );
      const knownInodes = new Set(r.rows.map((row) => BigInt(row.inode)));
      return { dirId, counts, fresh, knownInodes };
    },

    async insertFiles(newRows: readonly NewFileRow[]): Promise<readonly number[]> {
      if (newRows.length === 0) return [];
      // Written behind the walk, many directories' rows per statement (write-behind.ts); at once
      // when no transaction is open, since only a COMMIT or ROLLBACK would otherwise end it.
      const ids = await wb.addFiles(scanId, newRows);
      if (!pgInTransaction(client)) await wb.sync();
      return ids;
    },

    // PostgreSQL keeps its indexes through a first scan: nothing to get ready.
    async walkDone() {},

    async applyDeletions() {
      // Every row of the walk is written before the moves are matched (write-behind.ts).
      await wb.sync();
      // Fingerprints settle before the deletions (which the trigger sees): only directories
      // still marked merging and listed last by this scan keep theirs (../listing-fingerprint.ts).
      await client.query(
        `DELETE FROM pg_temp.pending_fps p
          WHERE NOT EXISTS (SELECT 1 FROM dirs d WHERE d.id = p.dir_id
                               AND d.listing_fp = '\\x'::bytea AND d.last_listed_scan = $1)`,
        [scanId],
      );
      // Nothing parked (an unchanged rescan): the statements below would change nothing but the
      // fingerprints (./parked.ts).
      if (!(await anythingParked(client))) {
        await applyPendingFingerprints(client);
        await discardParked();
        return { deleted: 0, moved: 0 };
      }
      // Whole vanished directories: their subtrees (the dir itself and every path below it,
      // [dir + '/', dir + '0') as ../tree.ts descendantRange) join the parked files.
      await client.query(
        `WITH sub AS (
           SELECT d.id FROM pg_temp.gone_dirs g
             JOIN dirs gd ON gd.id = g.dir_id
             JOIN dirs d ON d.device_id = gd.device_id
              AND (d.id = gd.id
                   OR (d.path >= CASE WHEN gd.path = '\\x2f'::bytea THEN gd.path ELSE gd.path || '\\x2f'::bytea END
                       AND d.path < CASE WHEN gd.path = '\\x2f'::bytea THEN '\\x30'::bytea ELSE gd.path || '\\x30'::bytea END))),
         pf AS (
           INSERT INTO pg_temp.gone_files (file_id)
             SELECT f.id FROM files f JOIN sub ON f.dir_id = sub.id WHERE f.status = 'active'
           ON CONFLICT DO NOTHING)
         UPDATE dirs SET status = 'deleted' WHERE id IN (SELECT id FROM sub)`,
      );
      // Moves: a row inserted in this scan with the (device, inode, size, mtime_ns) of a parked
      // row takes over the hashes it lacks.
      const moved = await client.query(
        `UPDATE files AS n
            SET prefix_hash = coalesce(n.prefix_hash, o.prefix_hash),
                suffix_hash = coalesce(n.suffix_hash, o.suffix_hash),
                sha256 = coalesce(n.sha256, o.sha256)
           FROM (SELECT f.device_id, f.inode, f.size, f.mtime_ns,
                        (array_agg(f.prefix_hash ORDER BY f.prefix_hash DESC NULLS LAST))[1] AS prefix_hash,
                        (array_agg(f.suffix_hash ORDER BY f.suffix_hash DESC NULLS LAST))[1] AS suffix_hash,
                        (array_agg(f.sha256 ORDER BY f.sha256 DESC NULLS LAST))[1] AS sha256
                   FROM pg_temp.gone_files g JOIN files f ON f.id = g.file_id
                  WHERE f.status = 'active'
                  GROUP BY f.device_id, f.inode, f.size, f.mtime_ns) AS o
          WHERE n.first_seen_scan = $1 AND n.status = 'active'
            AND n.device_id = o.device_id AND n.inode = o.inode AND n.size = o.size
            AND n.mtime_ns = o.mtime_ns
            AND n.id NOT IN (SELECT file_id FROM pg_temp.gone_files)`,
        [scanId],
      );
      const deleted = await client.query(
        `UPDATE files SET status = 'deleted', deleted_scan = $1
          WHERE status = 'active' AND id IN (SELECT file_id FROM pg_temp.gone_files)`,
        [scanId],
      );
      await applyPendingFingerprints(client);
      await discardParked();
      return { deleted: deleted.rowCount ?? 0, moved: moved.rowCount ?? 0 };
    },

    discardParked,
  };
}
