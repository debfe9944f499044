/** The SQLite end of a catalog copy (side.ts): a catalog file opened like any command opens it. */
import type Database from 'better-sqlite3';
import type { DB } from '../db.js';
import { openCatalog } from '../open.js';
import type { ColumnKind, CopyRow, CopySide, CopyValue, TableInfo } from './side.js';

const KINDS: Record<string, ColumnKind> = { INTEGER: 'int', BLOB: 'bytes', TEXT: 'text' };

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function introspect(db: DB): TableInfo[] {
  const names = db
    .prepare(
      `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    )
    .pluck()
    .all() as string[];
  return names.map((name) => {
    const cols = db.prepare(`PRAGMA table_info(${quote(name)})`).all() as {
      name: string;
      type: string;
      pk: number;
    }[];
    const fks = db.prepare(`PRAGMA foreign_key_list(${quote(name)})`).all() as {
      table: string;
      from: string;
    }[];
    return {
      name,
      columns: cols.map((c) => {
        const kind = KINDS[c.type.toUpperCase()];
        if (!kind) throw new Error(`catalog table ${name}: column ${c.name} has type ${c.type}`);
        return { name: c.name, kind };
      }),
      primaryKey: cols
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name),
      references: [...new Set(fks.filter((f) => f.table !== name).map((f) => f.table))],
      selfReferences: fks.filter((f) => f.table === name).map((f) => f.from),
    };
  });
}

/** SQLite takes integers as BigInt (exact beyond 2^53) and bytes as Buffers, as they come. */
function bind(v: CopyValue): CopyValue {
  return v;
}

export function sqliteCopySide(path: string, role: 'source' | 'destination'): CopySide {
  const cat = openCatalog(path, { readonly: role === 'source' });
  const db = cat.db;
  const inserts = new Map<string, Database.Statement<unknown[]>>();
  return {
    location: cat.location,
    tables: () => Promise.resolve(introspect(db)),
    count: (t) =>
      Promise.resolve(
        Number(
          db
            .prepare(`SELECT count(*) FROM ${quote(t.name)}`)
            .pluck()
            .get() as number,
        ),
      ),
    page(t, after, limit) {
      const cols = t.columns.map((c) => quote(c.name)).join(', ');
      const key = t.primaryKey.map(quote).join(', ');
      const where =
        after === undefined ? '' : `WHERE (${key}) > (${t.primaryKey.map(() => '?').join(', ')})`;
      const rows = db
        .prepare(`SELECT ${cols} FROM ${quote(t.name)} ${where} ORDER BY ${key} LIMIT ?`)
        .safeIntegers(true)
        .raw(true)
        .all(...(after ?? []).map(bind), limit) as CopyRow[];
      return Promise.resolve(rows);
    },
    beginRead() {
      // A read transaction in WAL mode: every page comes from one snapshot.
      db.exec('BEGIN DEFERRED');
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return Promise.resolve();
    },
    beginWrite() {
      db.exec('BEGIN IMMEDIATE');
      return Promise.resolve();
    },
    insert(t, rows) {
      let s = inserts.get(t.name);
      if (!s) {
        s = db.prepare<unknown[]>(
          `INSERT INTO ${quote(t.name)} (${t.columns.map((c) => quote(c.name)).join(', ')})
           VALUES (${t.columns.map(() => '?').join(', ')})`,
        );
        inserts.set(t.name, s);
      }
      for (const r of rows) s.run(...r.map(bind));
      return Promise.resolve();
    },
    patch(t, column, pairs) {
      const s = db.prepare(
        `UPDATE ${quote(t.name)} SET ${quote(column)} = ? WHERE ${quote(t.primaryKey[0]!)} = ?`,
      );
      for (const [k, v] of pairs) s.run(bind(v), bind(k));
      return Promise.resolve();
    },
    clear(t) {
      db.prepare(`DELETE FROM ${quote(t.name)}`).run();
      return Promise.resolve();
    },
    resetIds: () => Promise.resolve(), // a rowid table's next id is max(rowid) + 1 already
    end() {
      if (db.inTransaction) db.exec('COMMIT');
      return Promise.resolve();
    },
    abort() {
      if (db.inTransaction) db.exec('ROLLBACK');
      return Promise.resolve();
    },
    close: () => cat.close(),
  };
}
