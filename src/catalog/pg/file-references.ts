/**
 * The references of `files` on PostgreSQL (issue 15, P1: a first scan's speed), checked once
 * per statement instead of once per row.
 *
 * A declared foreign key costs PostgreSQL, for every inserted row and every key, an AFTER ROW
 * trigger event, an SPI query and a KEY SHARE lock on the parent row (~5 µs each). A file row
 * has five keys (device_id → devices, dir_id → dirs, first_seen_scan / changed_scan /
 * deleted_scan → scans): measured on a first scan of 100,000 files (PostgreSQL 15), copying the
 * rows into a table with files' indexes took 1.0 s, 3.0 s with its five foreign keys — half the
 * server time of the scan's inserts of file rows. Inserting the 100,000 rows again in one
 * statement: the five keys' triggers took 3.2–4.0 s, this statement trigger 0.13–0.30 s. SQLite checks its keys inline and cheaply, so
 * it keeps them declared; every other PostgreSQL table keeps its declared keys (they are small).
 *
 * The same guarantee, per statement, by triggers whose arguments say what they check:
 * - on `files`, AFTER INSERT and AFTER UPDATE, FOR EACH STATEMENT with the transition tables,
 *   `hashall_files_references(column, parent, …)`: in one set-based statement per parent
 *   table, the distinct ids the statement's rows name are locked FOR KEY SHARE (as a foreign
 *   key check does: a concurrent delete of the parent waits for this transaction, and a parent
 *   deleted meanwhile is not found) and any id not found is a foreign_key_violation (23503)
 *   worded as PostgreSQL words its own. NULL references are fine, as with a foreign key. An
 *   UPDATE whose new rows name the same references as its old rows (compared as sets, one
 *   small EXCEPT: a hash stage's update of sha256) checks nothing more — as a foreign key skips
 *   unchanged keys; otherwise only the ids its new rows name that its old rows did not: an id
 *   an old row named existed (it was checked when written) and still does (a delete would
 *   have been refused).
 * - on each parent, `hashall_unreferenced(child, column, …)`: AFTER DELETE FOR EACH STATEMENT
 *   (with the deleted rows), AFTER UPDATE OF id FOR EACH ROW WHEN the id changed (a row trigger
 *   with a column list and condition: the scan's updates of dirs, which never change an id,
 *   queue nothing) and AFTER TRUNCATE (refused while the child still holds rows; a TRUNCATE
 *   naming files too empties it first). The program never deletes a device, directory or scan;
 *   a delete of scans reads files without an index (its three columns have none).
 *
 * One limit a declared key does not have: a REPEATABLE READ transaction deleting a parent does
 * not see a file row a concurrent transaction committed after its snapshot (a foreign key
 * re-checks with a newer snapshot). Nothing in the program deletes parents; READ COMMITTED, its
 * level, re-reads per statement and sees it.
 *
 * `statementReferences` reads the triggers back (catalog copy orders tables by them; the
 * schema-equality test compares them with SQLite's foreign keys): a reference counts only while
 * every trigger enforcing it, on both sides, is there and enabled.
 */

/** A reference checked by statement triggers: `table.column` names a row of `target` by id. */
export interface StatementReference {
  readonly table: string;
  readonly column: string;
  readonly target: string;
}

/**
 * What the migration declares, the one list its text is made from: the child's function body
 * and its triggers' arguments (which statementReferences reads back) come from it together.
 * Part of a shipped migration's text: never edit it; a change is a new migration.
 */
const FILES_REFERENCES: readonly { readonly column: string; readonly target: string }[] = [
  { column: 'device_id', target: 'devices' },
  { column: 'dir_id', target: 'dirs' },
  { column: 'first_seen_scan', target: 'scans' },
  { column: 'changed_scan', target: 'scans' },
  { column: 'deleted_scan', target: 'scans' },
];

/** The referenced tables in order, each with its referencing columns. */
function parents(): [string, string[]][] {
  const out = new Map<string, string[]>();
  for (const r of FILES_REFERENCES) out.set(r.target, [...(out.get(r.target) ?? []), r.column]);
  return [...out];
}

const ids = (rows: string, cols: readonly string[]) =>
  `SELECT v FROM ${rows} CROSS JOIN LATERAL (VALUES ${cols.map((c) => `(${c})`).join(', ')}) AS x(v)`;

/** One parent's check: the ids wanted, locked where present, the first one absent. */
function check(parent: string, wanted: string): string {
  return `
      WITH wanted AS MATERIALIZED (${wanted}),
           present AS MATERIALIZED (
             SELECT p.id FROM wanted w
             CROSS JOIN LATERAL (SELECT t.id FROM ${parent} t WHERE t.id = w.v FOR KEY SHARE) AS p)
      SELECT m INTO absent FROM (SELECT v FROM wanted EXCEPT SELECT id FROM present) AS s(m) LIMIT 1;`;
}

/**
 * The child side, static SQL (planned once per session, not per statement: a dynamic query's
 * planning cost ~0.3 ms per statement and trigger, measured, which 2,000 updates of a hash
 * stage would pay). Each lookup is an index probe per distinct id, whatever the plan's guess
 * of the transition tables' sizes.
 */
function childFunction(): string {
  const all = FILES_REFERENCES.map((r) => r.column).join(', ');
  const perParent = parents()
    .map(
      ([parent, cols]) => `
    -- ${parent} (${cols.join(', ')})
    IF TG_OP = 'INSERT' THEN${check(parent, `SELECT DISTINCT v FROM (${ids('new_rows', cols)}) AS n WHERE v IS NOT NULL`)}
    ELSE${check(parent, `${ids('new_rows', cols)} WHERE v IS NOT NULL EXCEPT ${ids('old_rows', cols)}`)}
    END IF;
    IF absent IS NOT NULL THEN
      PERFORM hashall_reference_missing(TG_TABLE_SCHEMA, TG_TABLE_NAME, '${parent}',
        CASE ${cols.map((c) => `WHEN EXISTS (SELECT 1 FROM new_rows WHERE ${c} = absent) THEN '${c}'`).join(' ')} END,
        absent);
    END IF;`,
    )
    .join('');
  return `
  CREATE FUNCTION hashall_files_references() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    absent bigint;
  BEGIN
    IF TG_OP = 'UPDATE' THEN
      -- No row changed what it references (a hash stage's update): nothing to check.
      PERFORM 1 FROM (SELECT ${all} FROM new_rows EXCEPT SELECT ${all} FROM old_rows) AS c LIMIT 1;
      IF NOT FOUND THEN
        RETURN NULL;
      END IF;
    END IF;${perParent}
    RETURN NULL;
  END $$;`;
}

function triggers(): string {
  const args = FILES_REFERENCES.map((r) => `'${r.column}', '${r.target}'`).join(', ');
  const child = `
  CREATE TRIGGER files_references_insert AFTER INSERT ON files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_files_references(${args});
  CREATE TRIGGER files_references_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_files_references(${args});`;
  const parent = parents()
    .map(([t, cols]) => {
      const a = ['files', ...cols].map((c) => `'${c}'`).join(', ');
      return `
  CREATE TRIGGER ${t}_ref_files_delete AFTER DELETE ON ${t}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_unreferenced(${a});
  CREATE TRIGGER ${t}_ref_files_update AFTER UPDATE OF id ON ${t}
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION hashall_unreferenced(${a});
  CREATE TRIGGER ${t}_ref_files_truncate AFTER TRUNCATE ON ${t}
    FOR EACH STATEMENT EXECUTE FUNCTION hashall_unreferenced(${a});`;
    })
    .join('');
  return child + parent;
}

/** The migration (appended to PG_MIGRATIONS in ./schema.ts). */
export const FILE_REFERENCES_MIGRATION = `
  ALTER TABLE files
    ${FILES_REFERENCES.map((r) => `DROP CONSTRAINT files_${r.column}_fkey`).join(',\n    ')};

  -- A missing parent, worded as PostgreSQL words its own foreign key violation.
  CREATE FUNCTION hashall_reference_missing(sch text, tbl text, parent text, col text, id bigint)
    RETURNS void LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
        tbl, format('%s_%s_fkey', tbl, col)
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, id, parent),
            SCHEMA = sch, TABLE = tbl, COLUMN = col, CONSTRAINT = format('%s_%s_fkey', tbl, col);
  END $$;
${childFunction()}

  -- The parent side: TG_ARGV = (child table, its columns that reference this table's id).
  CREATE FUNCTION hashall_unreferenced() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    child text   := TG_ARGV[0];
    cols  text[] := TG_ARGV[1:TG_NARGS - 1];
    gone  text;
    held  bigint;
    col   text;
    found boolean;
  BEGIN
    IF TG_OP = 'TRUNCATE' THEN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', child) INTO found;
      IF found THEN
        RAISE EXCEPTION 'cannot truncate table "%" while table "%" references it', TG_TABLE_NAME, child
          USING ERRCODE = 'foreign_key_violation',
                HINT = format('Truncate table "%s" at the same time.', child);
      END IF;
      RETURN NULL;
    END IF;
    -- A row trigger runs for an id that changed; a statement trigger for the deleted rows.
    gone := format('SELECT g.id FROM (%%s) g WHERE EXISTS (SELECT 1 FROM %I c WHERE %s) LIMIT 1',
                   child,
                   (SELECT string_agg(format('c.%I = g.id', c), ' OR ') FROM unnest(cols) AS c));
    IF TG_LEVEL = 'ROW' THEN
      EXECUTE format(gone, 'SELECT $1::bigint AS id') INTO held USING OLD.id;
    ELSE
      EXECUTE format(gone, 'SELECT id FROM old_rows') INTO held;
    END IF;
    IF held IS NULL THEN
      RETURN NULL;
    END IF;
    FOREACH col IN ARRAY cols LOOP
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', child, col)
        INTO found USING held;
      EXIT WHEN found;
    END LOOP;
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
        TG_TABLE_NAME, format('%s_%s_fkey', child, col), child
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', held, child),
            SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
            CONSTRAINT = format('%s_%s_fkey', child, col);
  END $$;

${triggers()}
`;

const CHILD_FUNCTION = 'hashall_files_references';
const PARENT_FUNCTION = 'hashall_unreferenced';

/** pg_trigger.tgtype's bits (PostgreSQL's include/catalog/pg_trigger.h). */
const TYPE = { row: 1, insert: 4, delete: 8, update: 16, truncate: 32 } as const;

type Query = (sql: string) => Promise<{ rows: unknown[] }>;

interface TriggerRow {
  readonly table_name: string;
  readonly fn: string;
  readonly type: number;
  readonly args: Buffer;
}

/**
 * The statement-checked references in the current schema, read from the enabled triggers: a
 * reference is reported when the child's INSERT and UPDATE checks name it and the parent's
 * DELETE, id UPDATE and TRUNCATE checks name it too.
 */
export async function statementReferences(query: Query): Promise<StatementReference[]> {
  const rows = (
    await query(
      `SELECT c.relname AS table_name, p.proname AS fn, t.tgtype::int AS type, t.tgargs AS args
         FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
          AND t.tgenabled <> 'D'
          AND p.proname IN ('${CHILD_FUNCTION}', '${PARENT_FUNCTION}')`,
    )
  ).rows as TriggerRow[];
  // "child.column>parent" → the events that check it, per side.
  const childChecks = new Map<string, number>();
  const parentChecks = new Map<string, number>();
  const mark = (checks: Map<string, number>, key: string, type: number) =>
    checks.set(key, (checks.get(key) ?? 0) | type);
  for (const r of rows) {
    const args = r.args.toString('utf8').split('\0').slice(0, -1);
    if (r.fn === CHILD_FUNCTION) {
      // (column, parent) pairs, checked per statement.
      if ((r.type & TYPE.row) !== 0) continue;
      for (let i = 0; i + 1 < args.length; i += 2) {
        mark(childChecks, `${r.table_name}.${args[i]}>${args[i + 1]}`, r.type);
      }
    } else {
      // (child, its columns): an id UPDATE check per row, the others per statement.
      const [child, ...cols] = args;
      const perRow = (r.type & TYPE.row) !== 0;
      if (child === undefined || perRow !== ((r.type & TYPE.update) !== 0)) continue;
      for (const col of cols) mark(parentChecks, `${child}.${col}>${r.table_name}`, r.type);
    }
  }
  const both = (have: number | undefined, need: number) => ((have ?? 0) & need) === need;
  const out: StatementReference[] = [];
  for (const [key, events] of childChecks) {
    if (!both(events, TYPE.insert | TYPE.update)) continue;
    if (!both(parentChecks.get(key), TYPE.delete | TYPE.update | TYPE.truncate)) continue;
    const [table, rest] = key.split('.') as [string, string];
    const [column, target] = rest.split('>') as [string, string];
    out.push({ table, column, target });
  }
  return out.sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`));
}
