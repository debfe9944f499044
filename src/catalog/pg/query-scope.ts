/**
 * The scope of a grouping on PostgreSQL (as ../scope.ts on SQLite): the catalogued directories
 * at or below the scope's directories, in a temporary table of dir ids the grouping queries
 * keep rows of. "At or below" is a byte range of the dirs(device_id, path) index: bytea
 * compares bytewise, as SQLite's BLOB, and never a LIKE pattern (`_` and `%` are bytes of names).
 */
import type pg from 'pg';
import type { RowScope } from '../query-port.js';
import type { ScopeDir } from '../scope.js';

const SLASH = 0x2f;

/** [low, high): every path strictly below `dir` ('0' follows '/' in byte order). */
function belowRange(dir: Buffer): [Buffer, Buffer] {
  if (dir.length === 1 && dir[0] === SLASH) return [Buffer.from('/'), Buffer.from('0')];
  return [Buffer.concat([dir, Buffer.from('/')]), Buffer.concat([dir, Buffer.from('0')])];
}

/**
 * Fill pg_temp.scope_dirs with the ids of the directories at or below each entry (a grouping's
 * scope, and a plan's: ./planning.ts).
 */
export async function prepareScopeDirs(
  client: pg.Client,
  dirs: readonly ScopeDir[],
): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS pg_temp.scope_dirs;
                      CREATE TEMP TABLE scope_dirs (id bigint PRIMARY KEY)`);
  // One statement for every entry: unnest pairs each device with its range.
  const ranges = dirs.map((d) => belowRange(d.fsPath));
  await client.query(
    `INSERT INTO pg_temp.scope_dirs (id)
     SELECT d.id FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[]) AS s(device_id, path, lo, hi)
       JOIN dirs d ON d.device_id = s.device_id AND (d.path = s.path OR (d.path >= s.lo AND d.path < s.hi))
     ON CONFLICT DO NOTHING`,
    [
      dirs.map((d) => d.deviceId),
      dirs.map((d) => d.fsPath),
      ranges.map((r) => r[0]),
      ranges.map((r) => r[1]),
    ],
  );
  // Temporary tables are never analysed by autovacuum: without figures the planner guesses.
  await client.query('ANALYZE pg_temp.scope_dirs');
}

/** Prepare the scope's table; true when the rows are restricted (a 'dirs' scope). */
export async function applyPgScope(client: pg.Client, scope: RowScope): Promise<boolean> {
  if (scope.kind === 'all') return false;
  await prepareScopeDirs(client, scope.dirs);
  return true;
}

/** SQL keeping `files` rows (alias `col` for their dir_id) in the prepared scope. */
export function pgScopeClause(scoped: boolean, col = 'dir_id'): string {
  return scoped ? `AND ${col} IN (SELECT id FROM pg_temp.scope_dirs)` : '';
}
