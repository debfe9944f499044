/**
 * The catalog backends a CLI suite runs on (the pattern of ./scan-backends.ts, one level up):
 * the suite drives the real CLI with `--catalog` set to what `catalog()` gives — a file in a
 * temp directory (SQLite) or a fresh database in a throwaway cluster (PostgreSQL, ./pg.ts) —
 * and checks what the CLI wrote with `query()`, straight from the catalog, independently of
 * hashall's own reading code. PostgreSQL is skipped with a visible reason when it is not
 * installed, and required under HASHALL_REQUIRE_PG=1 (as .ci/run sets it).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pgUnavailableReason, startPgCluster, type PgCluster } from './pg.js';

export interface CliBackend {
  readonly name: 'SQLite' | 'PostgreSQL';
  /** Why this backend cannot run here, or undefined. */
  readonly unavailable: string | undefined;
  setup(): Promise<void>;
  teardown(): void;
  /** A new, empty catalog as `--catalog` takes it (`name` tells catalogs of one test apart). */
  catalog(dir: string, name?: string): Promise<string>;
  /**
   * The rows of a read-only query on `catalog`, with `?` placeholders on both backends;
   * integers come back as numbers, blobs/bytea as Buffers. SQL must be portable (no alias
   * in HAVING, no SQLite-only functions).
   */
  query<T>(catalog: string, sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export const sqliteCli: CliBackend = {
  name: 'SQLite',
  unavailable: undefined,
  setup: async () => undefined,
  teardown: () => undefined,
  catalog: async (dir, name = 'c') => join(dir, `${name}.db`),
  query: async <T>(catalog: string, sql: string, params: readonly unknown[] = []) => {
    const db = new Database(catalog, { readonly: true, timeout: 5000 });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  },
};

const pgReason = pgUnavailableReason();
if (pgReason && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${pgReason}`);
}
if (pgReason) console.warn(`skipping the PostgreSQL run of the CLI suites: ${pgReason}`);

let cluster: PgCluster | undefined;

/** count(), sum() and bigint columns as numbers, as better-sqlite3 gives them (tests' figures fit). */
const NUMERIC_OIDS = new Set([20, 1700]);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMERIC_OIDS.has(oid)
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export const pgCli: CliBackend = {
  name: 'PostgreSQL',
  unavailable: pgReason,
  async setup() {
    cluster = await startPgCluster();
  },
  teardown: () => cluster?.stop(),
  catalog: async () => cluster!.url(await cluster!.createDatabase()),
  async query<T>(catalog: string, sql: string, params: readonly unknown[] = []) {
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    const client = new pg.Client({ connectionString: catalog, types });
    await client.connect();
    try {
      return (await client.query(text, [...params])).rows as T[];
    } finally {
      await client.end();
    }
  },
};

export const CLI_BACKENDS: readonly CliBackend[] = [sqliteCli, pgCli];

/** Bytes a perfect hardlink dedupe frees: Σ over (device, sha256, size) of (inodes − 1) × size. */
export async function hardlinkSaving(b: CliBackend, catalog: string): Promise<number> {
  const [r] = await b.query<{ saving: number }>(
    catalog,
    `SELECT coalesce(sum((n - 1) * size), 0) AS saving FROM (
       SELECT size, count(DISTINCT inode) AS n FROM files
        WHERE status = 'active' AND sha256 IS NOT NULL AND size > 0
        GROUP BY device_id, sha256, size HAVING count(DISTINCT inode) > 1) g`,
  );
  return r!.saving;
}

export async function activePaths(b: CliBackend, catalog: string): Promise<Buffer[]> {
  const rows = await b.query<{ path: Buffer }>(
    catalog,
    `SELECT path FROM file_paths WHERE status = 'active'`,
  );
  return rows.map((r) => r.path);
}

export async function countRows(
  b: CliBackend,
  catalog: string,
  where = "status = 'active'",
): Promise<number> {
  const [r] = await b.query<{ n: number }>(
    catalog,
    `SELECT count(*) AS n FROM files WHERE ${where}`,
  );
  return r!.n;
}

/** Resolve once `sql` (a SELECT of one number `n`) gives n > 0, or throw after `ms`. */
export async function waitForRows(
  b: CliBackend,
  catalog: string,
  sql: string,
  ms = 60_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const [r] = await b.query<{ n: number }>(catalog, sql);
      if (r && r.n > 0) return;
    } catch {
      // not created yet, or mid-migration: try again
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${sql}`);
}

/**
 * Every row of every table of a catalog, as one string: equal before and after a command means
 * the command wrote nothing (on SQLite, comparing the file's bytes says more).
 */
export async function catalogContents(b: CliBackend, catalog: string): Promise<string> {
  const tables = await b.query<{ name: string }>(
    catalog,
    b.name === 'SQLite'
      ? `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
      : `SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const out: string[] = [];
  for (const { name } of tables) {
    const rows = await b.query<Record<string, unknown>>(catalog, `SELECT * FROM ${name}`);
    const lines = rows.map((r) =>
      JSON.stringify(r, (_k, v: unknown) =>
        typeof v === 'bigint' ? String(v) : v instanceof Date ? v.toISOString() : v,
      ),
    );
    out.push(`${name}\n${lines.sort().join('\n')}`);
  }
  return out.join('\n');
}
