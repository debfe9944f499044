/**
 * The references of `files` on PostgreSQL (issue 15, P1: a first scan's speed), checked once
 * per statement instead of once per row.
 *
 * A declared foreign key costs PostgreSQL, for every inserted row and every key, an AFTER ROW
 * trigger event, an SPI query and a KEY SHARE lock on the parent row (~5 µs each). A file row
 * has five keys (device_id → devices, dir_id → dirs, first_seen_scan / changed_scan /
 * deleted_scan → scans): measured on a first scan of 100,000 files (PostgreSQL 15), copying the
 * rows into a table with files' indexes took 1.0 s, 3.0 s with its five foreign keys — half the
 * server time of the scan's inserts of file rows. SQLite checks its keys inline and cheaply, so
 * it keeps them declared; every other PostgreSQL table keeps its declared keys (they are small).
 *
 * The same guarantee, per statement, by triggers whose arguments say what they check:
 * - on `files`, AFTER INSERT and AFTER UPDATE, FOR EACH STATEMENT with the transition tables,
 *   `hashall_references_exist(parent, column, …)`: in one set-based statement per parent
 *   table, the distinct ids the statement's rows name are locked FOR KEY SHARE (as a foreign
 *   key check does: a concurrent delete of the parent waits for this transaction, and a parent
 *   deleted meanwhile is not found) and any id not found is a foreign_key_violation (23503)
 *   worded as PostgreSQL words its own. NULL references are fine, as with a foreign key. An
 *   UPDATE checks only ids its new rows name that its old rows did not: an id an old row named
 *   existed (it was checked when written) and still does (a delete would have been refused),
 *   so a hash stage's update of sha256 checks nothing — as a foreign key skips unchanged keys.
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

/** The migration (appended to PG_MIGRATIONS in ./schema.ts): forward-only, never edited. */
export const FILE_REFERENCES_MIGRATION = `
  ALTER TABLE files
    DROP CONSTRAINT files_device_id_fkey,
    DROP CONSTRAINT files_dir_id_fkey,
    DROP CONSTRAINT files_first_seen_scan_fkey,
    DROP CONSTRAINT files_changed_scan_fkey,
    DROP CONSTRAINT files_deleted_scan_fkey;

  -- The child side: TG_ARGV = (parent table, its referencing columns of this table).
  CREATE FUNCTION hashall_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    parent  text   := TG_ARGV[0];
    cols    text[] := TG_ARGV[1:TG_NARGS - 1];
    named   text;
    wanted  text;
    missing bigint;
    col     text;
    found   boolean;
  BEGIN
    -- Every non-null id the rows name, once.
    named := format('SELECT DISTINCT v FROM %%s CROSS JOIN LATERAL (VALUES %s) AS x(v) WHERE v IS NOT NULL',
                    (SELECT string_agg(format('(%I)', c), ', ') FROM unnest(cols) AS c));
    wanted := format(named, 'new_rows');
    IF TG_OP = 'UPDATE' THEN
      wanted := wanted || ' EXCEPT ' || format(named, 'old_rows');
    END IF;
    -- Dynamic, so each statement is planned for its own transition tables' sizes.
    EXECUTE format(
      'WITH wanted AS MATERIALIZED (%s),
            present AS MATERIALIZED (SELECT p.id FROM %I p WHERE p.id IN (SELECT v FROM wanted)
                                     FOR KEY SHARE OF p)
       SELECT v FROM wanted EXCEPT SELECT id FROM present LIMIT 1', wanted, parent)
      INTO missing;
    IF missing IS NULL THEN
      RETURN NULL;
    END IF;
    FOREACH col IN ARRAY cols LOOP
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM new_rows WHERE %I = $1)', col)
        INTO found USING missing;
      EXIT WHEN found;
    END LOOP;
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
        TG_TABLE_NAME, format('%s_%s_fkey', TG_TABLE_NAME, col)
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, missing, parent),
            SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, COLUMN = col,
            CONSTRAINT = format('%s_%s_fkey', TG_TABLE_NAME, col);
  END $$;

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

  CREATE TRIGGER files_ref_devices_insert AFTER INSERT ON files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_references_exist('devices', 'device_id');
  CREATE TRIGGER files_ref_devices_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_references_exist('devices', 'device_id');
  CREATE TRIGGER files_ref_dirs_insert AFTER INSERT ON files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_references_exist('dirs', 'dir_id');
  CREATE TRIGGER files_ref_dirs_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_references_exist('dirs', 'dir_id');
  CREATE TRIGGER files_ref_scans_insert AFTER INSERT ON files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_references_exist('scans', 'first_seen_scan', 'changed_scan', 'deleted_scan');
  CREATE TRIGGER files_ref_scans_update AFTER UPDATE ON files
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_references_exist('scans', 'first_seen_scan', 'changed_scan', 'deleted_scan');

  CREATE TRIGGER devices_ref_files_delete AFTER DELETE ON devices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_unreferenced('files', 'device_id');
  CREATE TRIGGER devices_ref_files_update AFTER UPDATE OF id ON devices
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION hashall_unreferenced('files', 'device_id');
  CREATE TRIGGER devices_ref_files_truncate AFTER TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION hashall_unreferenced('files', 'device_id');
  CREATE TRIGGER dirs_ref_files_delete AFTER DELETE ON dirs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_unreferenced('files', 'dir_id');
  CREATE TRIGGER dirs_ref_files_update AFTER UPDATE OF id ON dirs
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION hashall_unreferenced('files', 'dir_id');
  CREATE TRIGGER dirs_ref_files_truncate AFTER TRUNCATE ON dirs
    FOR EACH STATEMENT EXECUTE FUNCTION hashall_unreferenced('files', 'dir_id');
  CREATE TRIGGER scans_ref_files_delete AFTER DELETE ON scans
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION hashall_unreferenced('files', 'first_seen_scan', 'changed_scan', 'deleted_scan');
  CREATE TRIGGER scans_ref_files_update AFTER UPDATE OF id ON scans
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION hashall_unreferenced('files', 'first_seen_scan', 'changed_scan', 'deleted_scan');
  CREATE TRIGGER scans_ref_files_truncate AFTER TRUNCATE ON scans
    FOR EACH STATEMENT EXECUTE FUNCTION hashall_unreferenced('files', 'first_seen_scan', 'changed_scan', 'deleted_scan');
`;

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
          AND p.proname IN ('hashall_references_exist', 'hashall_unreferenced')`,
    )
  ).rows as TriggerRow[];
  // "child.column>parent" → the events that check it, per side.
  const childChecks = new Map<string, number>();
  const parentChecks = new Map<string, number>();
  for (const r of rows) {
    const args = r.args.toString('utf8').split('\0').slice(0, -1);
    const [other, ...cols] = args;
    if (other === undefined) continue;
    const asChild = r.fn === 'hashall_references_exist';
    for (const col of cols) {
      const key = asChild ? `${r.table_name}.${col}>${other}` : `${other}.${col}>${r.table_name}`;
      const checks = asChild ? childChecks : parentChecks;
      // A parent's id UPDATE check is a row trigger; every other check is per statement.
      const wanted = asChild
        ? (r.type & TYPE.row) === 0
        : (r.type & TYPE.update) !== 0
          ? (r.type & TYPE.row) !== 0
          : (r.type & TYPE.row) === 0;
      if (wanted) checks.set(key, (checks.get(key) ?? 0) | r.type);
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
