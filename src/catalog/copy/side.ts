/**
 * One end of a catalog copy, whichever backend it is: its tables as the copy needs them
 * (columns, primary key, foreign keys, identity columns) and the few operations a copy does —
 * read a page after a key, insert a page, patch a column, reset the next id. Both backends
 * hold the same schema (test/e2e/pg-catalog.test.ts compares them), with every column an
 * integer, bytes or text, so a row moves across as an array of values in column order.
 */

/** A column's kind: SQLite INTEGER / PostgreSQL bigint, BLOB / bytea, TEXT / text. */
export type ColumnKind = 'int' | 'bytes' | 'text';

/** A value as both sides exchange it: integers exact (bigint), bytes as Buffers. */
export type CopyValue = bigint | Buffer | string | null;
export type CopyRow = CopyValue[];

export interface TableInfo {
  readonly name: string;
  readonly columns: readonly { readonly name: string; readonly kind: ColumnKind }[];
  /** The primary key's columns, in key order: the order a table is read in. */
  readonly primaryKey: readonly string[];
  /** Tables this one's foreign keys point to (itself excluded). */
  readonly references: readonly string[];
  /** Columns with a foreign key to their own table (a directory's parent). */
  readonly selfReferences: readonly string[];
}

export interface CopySide {
  /** Where it is, for messages (never a password). */
  readonly location: string;
  tables(): Promise<TableInfo[]>;
  count(table: TableInfo): Promise<number>;
  /** Rows after `after` (a primary key value; undefined: from the start), in key order. */
  page(
    table: TableInfo,
    after: readonly CopyValue[] | undefined,
    limit: number,
  ): Promise<CopyRow[]>;
  /** Start a consistent read of the whole catalog (a snapshot), ended by `end`. */
  beginRead(): Promise<void>;
  /** Start the one write transaction the copy lands in, ended by `end` or `abort`. */
  beginWrite(): Promise<void>;
  insert(table: TableInfo, rows: readonly CopyRow[]): Promise<void>;
  /** Set `column` of the rows whose (single-column) key is given. */
  patch(
    table: TableInfo,
    column: string,
    pairs: readonly (readonly [CopyValue, CopyValue])[],
  ): Promise<void>;
  /** Delete every row of a table (inside the copy's transaction). */
  clear(table: TableInfo): Promise<void>;
  /** After explicit ids went in: the next generated id follows the largest copied. */
  resetIds(table: TableInfo): Promise<void>;
  end(): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Tables that are not history but a process's state: an executor lock names a live process
 * on one host, so it is never copied (the catalog-wide `executor_lock` of old catalogs, and the
 * lock per device). Everything else is, verbatim.
 */
export const TRANSIENT_TABLES: ReadonlySet<string> = new Set([
  'executor_lock',
  'executor_device_lock',
]);

/**
 * Tables that triggers on `files` write (the stored group totals and device usage and what is
 * dirty in them: ../group-totals.ts, ../usage-totals.ts): the copy's own inserts of file rows
 * fill them in the destination, so they are copied last, emptied first — the source's rows,
 * consistent with its totals, are what the copy keeps.
 */
export const TRIGGER_WRITTEN: ReadonlySet<string> = new Set([
  'group_totals',
  'group_dirty',
  'usage_totals',
  'usage_dirty',
]);

/**
 * The tables in an order where every referenced table comes first (self-references are set
 * afterwards, see `selfReferences`). A cycle between two tables would make a copy impossible
 * without deferred constraints; the schema has none, and this refuses one if it appears.
 */
export function insertionOrder(tables: readonly TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: TableInfo[] = [];
  const visit = (t: TableInfo): void => {
    if (done.has(t.name)) return;
    if (visiting.has(t.name))
      throw new Error(`catalog schema: foreign keys form a cycle at ${t.name}`);
    visiting.add(t.name);
    for (const r of t.references) {
      const dep = byName.get(r);
      if (dep) visit(dep);
    }
    visiting.delete(t.name);
    done.add(t.name);
    out.push(t);
  };
  for (const t of [...tables].sort((a, b) => a.name.localeCompare(b.name))) visit(t);
  // Referenced by nothing, written by triggers as the others go in: last.
  return [
    ...out.filter((t) => !TRIGGER_WRITTEN.has(t.name)),
    ...out.filter((t) => TRIGGER_WRITTEN.has(t.name)),
  ];
}
