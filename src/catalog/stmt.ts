/**
 * Prepared statements, compiled once per connection. The executor runs a handful of statements
 * per action; compiling them each time cost more than running them.
 */
import type { Statement } from 'better-sqlite3';
import type { DB } from './db.js';

const caches = new WeakMap<DB, Map<string, Statement>>();

export function stmt(db: DB, sql: string): Statement {
  let cache = caches.get(db);
  if (!cache) {
    cache = new Map();
    caches.set(db, cache);
  }
  let s = cache.get(sql);
  if (!s) {
    s = db.prepare(sql);
    cache.set(sql, s);
  }
  return s;
}
