/**
 * Bringing a PostgreSQL catalog to this program's schema: forward-only migrations recorded in
 * `hashall_schema`, each in its own transaction (PostgreSQL's DDL is transactional: a
 * migration is applied whole or not at all). A catalog newer than the program is refused, and
 * so is a database that holds other tables but no hashall catalog.
 *
 * Two hosts starting on an empty database at once: migrations run under a session advisory
 * lock, and the version is read again once it is held, so the second one finds the work done.
 * A catalog already current needs neither the lock nor the right to create tables: a role with
 * only SELECT/INSERT/UPDATE/DELETE can use it (README "Several hosts").
 */
import type pg from 'pg';
import { EXIT, UserError, errnoCode } from '../../errors.js';
import { APPLICATION_ID } from '../migrations.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './schema.js';
import { connectPg, type PgConnection } from './connect.js';

/** The advisory lock taken around migrations: (hashall's application id, 1). */
const MIGRATION_LOCK = [APPLICATION_ID, 1] as const;
/** How long to wait for another process's migration before giving up. */
const MIGRATION_WAIT = '120s';

/**
 * The recorded version, or 'absent' when there is no `hashall_schema` table: read in one round
 * trip (every command starts with it), the table's absence told by the error (42P01,
 * undefined_table) rather than by asking first. Never called inside a transaction, which the
 * error would abort.
 */
async function schemaVersion(client: pg.Client): Promise<number | 'absent'> {
  try {
    const r = await client.query<{ v: string }>(
      'SELECT coalesce(max(version), 0)::text AS v FROM hashall_schema',
    );
    return Number(r.rows[0]!.v);
  } catch (err) {
    if (errnoCode(err) === '42P01') return 'absent';
    throw err;
  }
}

/** Tables and views in the schema we would create ours in, to tell a foreign database. */
async function otherRelations(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
      ORDER BY 1 LIMIT 3`,
  );
  return r.rows.map((row) => row.name);
}

function refuseNewer(location: string, version: number): never {
  throw new UserError(
    `catalog ${location} has schema version ${version}, newer than this hashall understands (${PG_SCHEMA_VERSION}); upgrade hashall`,
  );
}

/** Migrate the connected catalog forward; refusals are UserErrors (exit 2). */
export async function migratePg({ client, target }: PgConnection): Promise<void> {
  const loc = target.location;
  try {
    const before = await schemaVersion(client);
    if (before !== 'absent') {
      if (before > PG_SCHEMA_VERSION) refuseNewer(loc, before);
      if (before === PG_SCHEMA_VERSION) return;
    }
    await client.query(`SELECT set_config('lock_timeout', $1, false)`, [MIGRATION_WAIT]);
    await client.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
    try {
      await client.query('RESET lock_timeout'); // back to the role's or server's setting
      for (;;) {
        const current = await schemaVersion(client);
        if (current === 'absent') {
          // Asked only under the lock: before it, another process's first migration may have
          // committed between our two reads (its tables visible, its version not yet read),
          // which made a catalog being created look like a foreign database.
          const others = await otherRelations(client);
          if (others.length > 0) {
            throw new UserError(
              `database ${target.database} at ${loc} holds other tables (${others.join(', ')}) and no hashall catalog; give hashall a database of its own`,
            );
          }
        }
        const v = current === 'absent' ? 0 : current;
        if (v > PG_SCHEMA_VERSION) refuseNewer(loc, v);
        if (v === PG_SCHEMA_VERSION) return;
        await client.query('BEGIN');
        try {
          await client.query(
            'CREATE TABLE IF NOT EXISTS hashall_schema (version bigint PRIMARY KEY, applied_at bigint NOT NULL)',
          );
          await client.query(PG_MIGRATIONS[v]!);
          await client.query('INSERT INTO hashall_schema (version, applied_at) VALUES ($1, $2)', [
            v + 1,
            Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK])
        .catch(() => false);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw migrationError(loc, target.user, target.database, err);
  }
}

function migrationError(loc: string, user: string, db: string, err: unknown): unknown {
  const code = errnoCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (code === '42501') {
    return new UserError(
      `catalog ${loc}: role ${user} may not create the catalog's tables in database ${db} (${msg}); run hashall once as the database's owner, or GRANT CREATE ON SCHEMA public TO ${user}`,
    );
  }
  if (code === '55P03') {
    return new UserError(
      `catalog ${loc}: another hashall has been migrating the catalog for over ${MIGRATION_WAIT} (${msg}); try again when it is done`,
    );
  }
  if (code === '25006') {
    return new UserError(
      `catalog ${loc} is on a read-only server (${msg}); connect to the primary to create or upgrade the catalog`,
    );
  }
  // The server went away (restarted, or an administrator ended the session).
  if (/^(57P01|57P02|ECONNRESET|EPIPE)$/.test(code ?? '') || /Connection terminated/i.test(msg)) {
    return new UserError(
      `catalog ${loc}: the connection was lost while migrating the schema (${msg}); nothing half-done is kept (each migration is one transaction): run again`,
      EXIT.partial,
    );
  }
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    return new UserError(`catalog ${loc}: cannot migrate the schema: ${msg}`, EXIT.partial);
  }
  return err;
}

/** Connect and bring the catalog to this program's schema; the connection is ended on a refusal. */
export async function connectMigrated(url: string): Promise<PgConnection> {
  const conn = await connectPg(url);
  try {
    await migratePg(conn);
  } catch (err) {
    await conn.client.end().catch(() => undefined);
    throw err;
  }
  return conn;
}
