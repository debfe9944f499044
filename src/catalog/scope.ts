/**
 * Scope (`plan NAME PATH...`, `dupes PATH...`): the catalogued directories at or below the
 * scope's directories, materialised as a temporary table of dir ids so the grouping queries
 * keep only rows in scope; and the scope a plan was made with.
 *
 * "At or below" is a byte comparison: the directories below `/a/b` are exactly the paths in
 * [`/a/b/`, `/a/b0`) (`0` follows `/` in byte order), a range of the dirs(device_id, path)
 * index. Never a LIKE pattern: `_` and `%` are ordinary bytes in a name.
 */
import type { DB } from './db.js';
import { stmt } from './stmt.js';

export interface ScopeDir {
  readonly deviceId: number;
  /** The directory inside its filesystem ('/'-led, as dirs.path). */
  readonly fsPath: Buffer;
}

/** A plan's stored scope entry: also the absolute path the user named. */
export interface StoredScope extends ScopeDir {
  readonly path: Buffer;
}

const SLASH = 0x2f;

/** [low, high): every path strictly below `dir`. */
function belowRange(dir: Buffer): [Buffer, Buffer] {
  if (dir.length === 1 && dir[0] === SLASH) return [Buffer.from('/'), Buffer.from('0')];
  return [Buffer.concat([dir, Buffer.from('/')]), Buffer.concat([dir, Buffer.from('0')])];
}

/** Whether the catalog knows this directory (active) on this device. */
export function isCataloguedDir(db: DB, deviceId: number, fsPath: Buffer): boolean {
  return (
    stmt(db, `SELECT 1 FROM dirs WHERE device_id = ? AND path = ? AND status = 'active'`).get(
      deviceId,
      fsPath,
    ) !== undefined
  );
}

/**
 * Fill temp.scope_dirs with the ids of the catalogued directories at or below each entry.
 * The grouping queries then restrict rows with `dir_id IN (SELECT id FROM temp.scope_dirs)`.
 */
export function prepareScopeDirs(db: DB, dirs: readonly ScopeDir[]): number {
  db.exec(`DROP TABLE IF EXISTS temp.scope_dirs;
           CREATE TEMP TABLE scope_dirs (id INTEGER PRIMARY KEY);`);
  const ins = db.prepare(
    `INSERT OR IGNORE INTO temp.scope_dirs (id)
     SELECT id FROM dirs WHERE device_id = ? AND (path = ? OR (path >= ? AND path < ?))`,
  );
  let n = 0;
  for (const d of dirs) {
    const [lo, hi] = belowRange(d.fsPath);
    n += ins.run(d.deviceId, d.fsPath, lo, hi).changes;
  }
  return n;
}

/**
 * Restrict the grouping queries to these directories (prepareScopeDirs); false, preparing
 * nothing, when there are none (the scope is everything).
 */
export function restrictToScope(db: DB, dirs: readonly ScopeDir[]): boolean {
  if (dirs.length === 0) return false;
  prepareScopeDirs(db, dirs);
  return true;
}

/** SQL restricting `files` rows (alias `col` for their dir_id) to the prepared scope. */
export function scopeClause(scoped: boolean, col = 'dir_id'): string {
  return scoped ? `AND ${col} IN (SELECT id FROM temp.scope_dirs)` : '';
}

export function storePlanScope(db: DB, planId: number, scope: readonly StoredScope[]): void {
  const ins = db.prepare(
    'INSERT INTO conductor_plan_scope (plan_id, position, device_id, fs_path, path) VALUES (?, ?, ?, ?, ?)',
  );
  scope.forEach((s, i) => ins.run(planId, i, s.deviceId, s.fsPath, s.path));
}

/** A plan's scope, in the order given (empty: the plan was not limited to directories). */
export function planScope(db: DB, planId: number): StoredScope[] {
  return (
    stmt(
      db,
      'SELECT device_id, fs_path, path FROM conductor_plan_scope WHERE plan_id = ? ORDER BY position',
    ).all(planId) as { device_id: number; fs_path: Buffer; path: Buffer }[]
  ).map((r) => ({ deviceId: r.device_id, fsPath: r.fs_path, path: r.path }));
}
