/**
 * A listed directory's row on PostgreSQL, in one round trip: looked up, marked listed when it
 * is active and holds the listing's fingerprint (unchanged), or — when there is none and the
 * walk knows its parent's row — inserted already marked listed and merging, with the listing's
 * fingerprint kept for when the scan finishes (../listing-fingerprint.ts). A directory created
 * so has no file row and no subdirectory yet: every listed file is new and nothing is parked,
 * so its merge needs no further statement (a first scan's common case).
 */
import type pg from 'pg';

export type DirRow = { readonly id: string; readonly status: string } | undefined;

export type DirLookUp =
  /** The row was there (or another scan inserted it meanwhile and it is not visible yet: none). */
  | { readonly kind: 'found'; readonly row: DirRow; readonly unchanged: boolean }
  /** This statement inserted it. */
  | { readonly kind: 'created'; readonly id: number };

export async function lookUpOrCreateDir(
  client: pg.Client,
  p: {
    readonly scanId: number;
    readonly deviceId: number;
    readonly path: Buffer;
    readonly fingerprint: Buffer | undefined;
    /** The parent's row id, when the walk listed the parent; without it nothing is created. */
    readonly parentId: number | undefined;
  },
): Promise<DirLookUp> {
  const r = await client.query<{
    id: string;
    status: string;
    unchanged: boolean;
    created: boolean;
  }>(
    `WITH d AS (SELECT id, status, listing_fp FROM dirs WHERE device_id = $1 AND path = $2),
          s AS (UPDATE dirs SET last_listed_scan = $3 FROM d
                 WHERE dirs.id = d.id AND d.status = 'active' AND d.listing_fp = $4::bytea
                RETURNING dirs.id),
          ins AS (INSERT INTO dirs (device_id, parent_id, path, status, last_listed_scan, listing_fp)
                  SELECT $1, $5::int8, $2, 'active', $3, '\\x'::bytea
                   WHERE $5::int8 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM d)
                  ON CONFLICT (device_id, path) DO NOTHING
                  RETURNING id),
          fp AS (INSERT INTO pg_temp.pending_fps (dir_id, fp)
                 SELECT id, $4::bytea FROM ins WHERE $4::bytea IS NOT NULL)
     SELECT d.id, d.status, EXISTS (SELECT 1 FROM s) AS unchanged, false AS created FROM d
     UNION ALL
     SELECT ins.id, 'active', false, true FROM ins`,
    [p.deviceId, p.path, p.scanId, p.fingerprint ?? null, p.parentId ?? null],
  );
  const row = r.rows[0];
  if (row?.created) return { kind: 'created', id: Number(row.id) };
  return { kind: 'found', row, unchanged: row?.unchanged === true };
}
