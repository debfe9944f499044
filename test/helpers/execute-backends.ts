/**
 * The catalog backends the execute-port suite runs on (the pattern of ./scan-backends.ts):
 * SQLite, and PostgreSQL in a throwaway cluster (./pg.ts), skipped with the reason when
 * PostgreSQL is not installed (a failure under HASHALL_REQUIRE_PG=1). A catalog under test
 * starts as a copy of a SQLite catalog the real CLI scanned and planned: SQLite copies it with
 * VACUUM INTO; PostgreSQL gets its rows (devices, scans, tree, plans, actions) inserted as they
 * are, ids included, by this fixture — the plan concern on PostgreSQL is not needed for it.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { openCatalog } from '../../src/catalog/open.js';
import type { ExecuteCatalog } from '../../src/catalog/execute-port.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { pgExecuteOps } from '../../src/catalog/pg/execute.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgScanOps } from '../../src/catalog/pg/scan.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from './pg.js';

/** What the suite drives: the execute concern (and the scan concern, for real scans). */

export interface ExecOpened {
  readonly cat: ExecuteCatalog;
  /** Another connection (another process's handle) to the same catalog. */
  another(): Promise<ExecOpened>;
  /**
   * Run SQL straight on the catalog (what a test inspects or sets up); `?` placeholders on
   * both backends.
   */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Statements sent so far on this handle (PostgreSQL only: each is a round trip). */
  readonly statements?: () => number;
  close(): Promise<void>;
}

export interface ExecBackend {
  readonly name: 'SQLite' | 'PostgreSQL';
  readonly unavailable: string | undefined;
  setup(): Promise<void>;
  teardown(): void;
  /** A catalog holding a copy of the SQLite catalog at `from`; `dir` is for its files. */
  open(from: string, dir: string): Promise<ExecOpened>;
}

let copies = 0;

export const sqliteExecBackend: ExecBackend = {
  name: 'SQLite',
  unavailable: undefined,
  setup: async () => undefined,
  teardown: () => undefined,
  async open(from, dir) {
    const path = join(dir, `copy-${copies++}.db`);
    const t = new Database(from);
    t.prepare('VACUUM INTO ?').run(path);
    t.close();
    const handle = async (): Promise<ExecOpened> => {
      const c = openCatalog(path);
      return {
        cat: c,
        another: handle,
        sql: async (text, params = []) => {
          const st = c.db.prepare(text);
          return st.reader
            ? (st.all(...params) as Record<string, unknown>[])
            : (st.run(...params), []);
        },
        close: async () => {
          c.db.close();
        },
      };
    };
    return handle();
  },
};

let cluster: PgCluster | undefined;
const pgReason = pgUnavailableReason();
if (pgReason && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${pgReason}`);
}
if (pgReason) console.warn(`skipping the PostgreSQL run of the execute suite: ${pgReason}`);

/** The tables a scanned and planned catalog fills, parents first. */
const COPIED = [
  'devices',
  'scans',
  'dirs',
  'files',
  'conductor_plans',
  'conductor_actions',
  'conductor_plan_scope',
];

/** Copy the rows of a SQLite catalog into an empty PostgreSQL one, ids and bytes as they are. */
async function copyRows(from: string, client: pg.Client): Promise<void> {
  const src = new Database(from, { readonly: true });
  try {
    await client.query('BEGIN');
    for (const table of COPIED) {
      const rows = src.prepare(`SELECT * FROM ${table}`).safeIntegers(true).all() as Record<
        string,
        unknown
      >[];
      for (const row of rows) {
        const cols = Object.keys(row);
        await client.query(
          `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
          cols.map((c) => (typeof row[c] === 'bigint' ? String(row[c]) : row[c])),
        );
      }
      if (
        ['devices', 'scans', 'dirs', 'files', 'conductor_plans', 'conductor_actions'].includes(
          table,
        )
      )
        await client.query(
          `SELECT setval(pg_get_serial_sequence('${table}', 'id'), coalesce(max(id), 0) + 1, false) FROM ${table}`,
        );
    }
    await client.query('COMMIT');
  } finally {
    src.close();
  }
}

/** `?` placeholders as PostgreSQL's `$n`. */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

export const pgExecBackend: ExecBackend = {
  name: 'PostgreSQL',
  unavailable: pgReason,
  async setup() {
    cluster = await startPgCluster();
  },
  teardown: () => cluster?.stop(),
  async open(from) {
    const url = cluster!.url(await cluster!.createDatabase());
    const first = await connectPg(url);
    await migratePg(first);
    await copyRows(from, first.client);
    const handle = async (conn?: { client: pg.Client }): Promise<ExecOpened> => {
      const client = (conn ?? (await connectPg(url))).client;
      let statements = 0;
      const query = client.query.bind(client) as (...a: unknown[]) => unknown;
      client.query = ((...args: unknown[]) => {
        statements++;
        return query(...args);
      }) as typeof client.query;
      return {
        statements: () => statements,
        cat: { ...pgScanOps(client), ...pgExecuteOps(client, { lockTimeoutMs: 2000 }) },
        another: () => handle(),
        sql: async (text, params = []) => (await client.query(numbered(text), params)).rows,
        close: () => client.end(),
      };
    };
    return handle(first);
  },
};

/** The cluster of pgExecBackend (after its setup), for tests that need its URL. */
export function pgExecCluster(): PgCluster {
  if (!cluster) throw new Error('pgExecBackend.setup() has not run');
  return cluster;
}
