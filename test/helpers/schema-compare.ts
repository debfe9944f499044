/**
 * Both catalog schemas in one comparable shape, read from the live databases: per table (and
 * view), its columns with their type (SQLite's declared type mapped to PostgreSQL's: INTEGER →
 * bigint, BLOB → bytea, TEXT → text), NOT NULL and default; its primary key; its UNIQUE
 * column sets; its foreign keys; and its named indexes with their columns and whether partial.
 * On PostgreSQL, files' references are statement triggers rather than declared keys
 * (src/catalog/pg/file-references.ts): they count as its foreign keys only while every trigger
 * enforcing them is there, so a lost check still shows as a difference.
 */
import type Database from 'better-sqlite3';
import { statementReferences } from '../../src/catalog/pg/file-references.js';

export interface TableShape {
  readonly kind: 'table' | 'view';
  readonly columns: Record<string, { type: string; notNull: boolean; default: string | null }>;
  readonly primaryKey: string[];
  readonly unique: string[];
  readonly foreignKeys: string[];
  readonly indexes: Record<string, { columns: string; partial: boolean }>;
}
export type SchemaShape = Record<string, TableShape>;

const LITE_TYPES: Record<string, string> = { INTEGER: 'bigint', BLOB: 'bytea', TEXT: 'text' };

export function sqliteSchema(db: Database.Database): SchemaShape {
  const out: SchemaShape = {};
  const objects = db
    .prepare(
      `SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')
          AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    )
    .all() as { name: string; type: 'table' | 'view' }[];
  for (const { name, type } of objects) {
    const cols = db.prepare(`PRAGMA table_info(${name})`).all() as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }[];
    const columns: TableShape['columns'] = {};
    for (const c of cols) {
      columns[c.name] = {
        type: LITE_TYPES[c.type.toUpperCase()] ?? `?${c.type}`,
        // A view's columns carry no constraints in PostgreSQL's catalog.
        notNull: type === 'table' && (c.notnull === 1 || c.pk > 0),
        default: type === 'table' ? c.dflt_value : null,
      };
    }
    const primaryKey = cols
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    const unique: string[] = [];
    const indexes: TableShape['indexes'] = {};
    if (type === 'table') {
      const list = db.prepare(`PRAGMA index_list(${name})`).all() as {
        name: string;
        unique: number;
        origin: string;
        partial: number;
      }[];
      for (const ix of list) {
        const ixCols = (
          db.prepare(`PRAGMA index_info(${ix.name})`).all() as { seqno: number; name: string }[]
        )
          .sort((a, b) => a.seqno - b.seqno)
          .map((c) => c.name)
          .join(', ');
        if (ix.origin === 'u') unique.push(ixCols);
        if (ix.origin === 'c') indexes[ix.name] = { columns: ixCols, partial: ix.partial === 1 };
      }
    }
    const fks = (
      db.prepare(`PRAGMA foreign_key_list(${name})`).all() as {
        table: string;
        from: string;
        to: string;
        on_delete: string;
      }[]
    ).map((f) => `${f.from} -> ${f.table}(${f.to}) on delete ${f.on_delete.toLowerCase()}`);
    out[name] = {
      kind: type,
      columns,
      primaryKey,
      unique: unique.sort(),
      foreignKeys: fks.sort(),
      indexes,
    };
  }
  return out;
}

type Query = (sql: string) => Promise<{ rows: Record<string, unknown>[] }>;

const DELETE_ACTIONS: Record<string, string> = { a: 'no action', c: 'cascade', r: 'restrict' };

export async function pgSchema(query: Query): Promise<SchemaShape> {
  const out: SchemaShape = {};
  const checked = await statementReferences(query);
  const rels = (
    await query(
      `SELECT c.relname AS name, c.relkind AS kind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v')
          AND c.relname <> 'hashall_schema' ORDER BY 1`,
    )
  ).rows as { name: string; kind: string }[];
  for (const { name, kind } of rels) {
    const cols = (
      await query(
        `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = '${name}' ORDER BY ordinal_position`,
      )
    ).rows as {
      column_name: string;
      data_type: string;
      is_nullable: string;
      column_default: string | null;
    }[];
    const columns: TableShape['columns'] = {};
    for (const c of cols) {
      columns[c.column_name] = {
        type: c.data_type,
        notNull: kind === 'r' && c.is_nullable === 'NO',
        default: c.column_default,
      };
    }
    const cons = (
      await query(
        `SELECT c.contype AS type, c.confdeltype AS on_delete, c.confrelid::regclass::text AS ref,
                (SELECT string_agg(a.attname, ', ' ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS cols,
                (SELECT string_agg(a.attname, ', ' ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS refcols
           FROM pg_constraint c WHERE c.conrelid = 'public.${name}'::regclass`,
      )
    ).rows as { type: string; on_delete: string; ref: string; cols: string; refcols: string }[];
    const ixs = (
      await query(
        `SELECT i.relname AS name, x.indpred IS NOT NULL AS partial,
                (SELECT string_agg(a.attname, ', ' ORDER BY k.i) FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n) AS cols
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
          WHERE x.indrelid = 'public.${name}'::regclass
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`,
      )
    ).rows as { name: string; partial: boolean; cols: string }[];
    const indexes: TableShape['indexes'] = {};
    for (const ix of ixs) indexes[ix.name] = { columns: ix.cols, partial: ix.partial };
    out[name] = {
      kind: kind === 'r' ? 'table' : 'view',
      columns,
      primaryKey: cons.find((c) => c.type === 'p')?.cols.split(', ') ?? [],
      unique: cons
        .filter((c) => c.type === 'u')
        .map((c) => c.cols)
        .sort(),
      foreignKeys: cons
        .filter((c) => c.type === 'f')
        .map(
          (c) =>
            `${c.cols} -> ${c.ref}(${c.refcols}) on delete ${DELETE_ACTIONS[c.on_delete] ?? c.on_delete}`,
        )
        .concat(
          // Checked at the end of each statement, as a declared NO ACTION key is.
          checked
            .filter((r) => r.table === name)
            .map((r) => `${r.column} -> ${r.target}(id) on delete no action`),
        )
        .sort(),
      indexes,
    };
  }
  return out;
}
