/**
 * The PostgreSQL end of a catalog copy (side.ts): connected and migrated like any command's
 * connection. Pages are read by key (`WHERE (key) > (…) ORDER BY key LIMIT n`) inside one
 * REPEATABLE READ transaction, so a copy sees one snapshot and holds one page at a time;
 * pages are written with one INSERT … SELECT FROM unnest(arrays) each — a round trip per page,
 * never per row.
 */
import type pg from 'pg';
import { statementReferences } from '../pg/file-references.js';
import { connectMigrated } from '../pg/migrate.js';
import type { ColumnKind, CopySide, CopyValue, TableInfo } from './side.js';

const KINDS: Record<string, ColumnKind> = { bigint: 'int', bytea: 'bytes', text: 'text' };
const PG_TYPE: Record<ColumnKind, string> = { int: 'bigint', bytes: 'bytea', text: 'text' };

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** hashall's own bookkeeping of migrations: each catalog keeps its own. */
const NOT_CATALOG = new Set(['hashall_schema']);

async function introspect(client: pg.Client): Promise<TableInfo[]> {
  const cols = await client.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type
       FROM information_schema.columns c
       JOIN information_schema.tables t
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
      ORDER BY c.table_name, c.ordinal_position`,
  );
  const keys = await client.query<{ table_name: string; column_name: string }>(
    `SELECT rel.relname AS table_name, a.attname AS column_name
       FROM pg_constraint con
       JOIN pg_class rel ON rel.oid = con.conrelid
       JOIN pg_namespace n ON n.oid = rel.relnamespace
       CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, pos)
       JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum = k.attnum
      WHERE con.contype = 'p' AND n.nspname = current_schema()
      ORDER BY rel.relname, k.pos`,
  );
  const fks = await client.query<{ table_name: string; column_name: string; target: string }>(
    `SELECT rel.relname AS table_name, a.attname AS column_name, ref.relname AS target
       FROM pg_constraint con
       JOIN pg_class rel ON rel.oid = con.conrelid
       JOIN pg_class ref ON ref.oid = con.confrelid
       JOIN pg_namespace n ON n.oid = rel.relnamespace
       JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum = con.conkey[1]
      WHERE con.contype = 'f' AND n.nspname = current_schema()`,
  );
  // files' references are checked by statement triggers, not declared (../pg/file-references.ts):
  // they order the copy all the same (SQLite enforces them as foreign keys).
  const checked = (await statementReferences((sql) => client.query(sql))).map((r) => ({
    table_name: r.table,
    column_name: r.column,
    target: r.target,
  }));
  const references = [...fks.rows, ...checked];
  const tables = new Map<string, { name: string; kind: ColumnKind }[]>();
  for (const c of cols.rows) {
    if (NOT_CATALOG.has(c.table_name)) continue;
    const kind = KINDS[c.data_type];
    if (!kind) {
      throw new Error(
        `catalog table ${c.table_name}: column ${c.column_name} has type ${c.data_type}`,
      );
    }
    const list = tables.get(c.table_name) ?? [];
    list.push({ name: c.column_name, kind });
    tables.set(c.table_name, list);
  }
  return [...tables].map(([name, columns]) => ({
    name,
    columns,
    primaryKey: keys.rows.filter((k) => k.table_name === name).map((k) => k.column_name),
    references: [
      ...new Set(
        references.filter((f) => f.table_name === name && f.target !== name).map((f) => f.target),
      ),
    ],
    selfReferences: references
      .filter((f) => f.table_name === name && f.target === name)
      .map((f) => f.column_name),
  }));
}

/** The driver gives bigint as text (exact); the copy carries integers as BigInt. */
function fromPg(kind: ColumnKind, v: unknown): CopyValue {
  if (v === null || v === undefined) return null;
  if (kind === 'int') return BigInt(v as string);
  return v as Buffer | string;
}

/** Arrays of BigInt go to the server as their decimal text; bytes and text as they are. */
function toPg(v: CopyValue): string | Buffer | null {
  return typeof v === 'bigint' ? v.toString() : v;
}

export async function pgCopySide(url: string): Promise<CopySide> {
  const conn = await connectMigrated(url);
  const { client } = conn;
  const inTx = () => client.getTransactionStatus() !== 'I';
  return {
    location: conn.target.location,
    tables: () => introspect(client),
    async count(t) {
      const r = await client.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM ${quote(t.name)}`,
      );
      return Number(r.rows[0]!.n);
    },
    async page(t, after, limit) {
      const key = t.primaryKey.map(quote).join(', ');
      const params: unknown[] = [];
      let where = '';
      if (after !== undefined) {
        const marks = after.map((v, i) => {
          params.push(toPg(v));
          const col = t.columns.find((c) => c.name === t.primaryKey[i])!;
          return `$${i + 1}::${PG_TYPE[col.kind]}`;
        });
        where = `WHERE (${key}) > (${marks.join(', ')})`;
      }
      params.push(limit);
      const r = await client.query({
        text: `SELECT ${t.columns.map((c) => quote(c.name)).join(', ')} FROM ${quote(t.name)}
                ${where} ORDER BY ${key} LIMIT $${params.length}`,
        values: params,
        rowMode: 'array',
      });
      return (r.rows as unknown[][]).map((row) => row.map((v, i) => fromPg(t.columns[i]!.kind, v)));
    },
    async beginRead() {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    },
    async beginWrite() {
      await client.query('BEGIN');
    },
    async insert(t, rows) {
      if (rows.length === 0) return;
      const arrays = t.columns.map((_, i) => rows.map((r) => toPg(r[i]!)));
      await client.query(
        `INSERT INTO ${quote(t.name)} (${t.columns.map((c) => quote(c.name)).join(', ')})
         SELECT * FROM unnest(${t.columns.map((c, i) => `$${i + 1}::${PG_TYPE[c.kind]}[]`).join(', ')})`,
        arrays,
      );
    },
    async patch(t, column, pairs) {
      if (pairs.length === 0) return;
      const key = t.primaryKey[0]!;
      const kindOf = (name: string) => PG_TYPE[t.columns.find((c) => c.name === name)!.kind];
      await client.query(
        `UPDATE ${quote(t.name)} AS t SET ${quote(column)} = v.val
           FROM unnest($1::${kindOf(key)}[], $2::${kindOf(column)}[]) AS v(key, val)
          WHERE t.${quote(key)} = v.key`,
        [pairs.map(([k]) => toPg(k)), pairs.map(([, v]) => toPg(v))],
      );
    },
    async clear(t) {
      await client.query(`DELETE FROM ${quote(t.name)}`);
    },
    async resetIds(t) {
      // Identity columns: the next generated id must follow the largest copied one.
      const r = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'`,
        [t.name],
      );
      for (const { column_name: col } of r.rows) {
        await client.query(
          `SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max(${quote(col)}), 0) + 1, false)
             FROM ${quote(t.name)}`,
          [quote(t.name), col],
        );
      }
    },
    async end() {
      if (inTx()) {
        const r = await client.query('COMMIT');
        if (r.command === 'ROLLBACK') throw new Error('the copy was rolled back by the server');
      }
    },
    async abort() {
      if (inTx()) await client.query('ROLLBACK');
    },
    close: () => client.end(),
  };
}
