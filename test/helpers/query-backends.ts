/**
 * The catalog backends the query-port suite runs on (the pattern of ./scan-backends.ts): a
 * SQLite catalog in a temp directory and a PostgreSQL catalog in the throwaway cluster
 * (./pg.ts), each holding the scan and query concerns of the port. The suite fills both with
 * real scans (runScan) of the same tree.
 *
 * Plans: PostgreSQL has no plan concern yet (pgPlanOps is written in parallel), so a plan
 * reaches it as the rows the CLI's `conductor plan` wrote into a SQLite catalog of the same
 * tree, copied column for column (same device and file ids: the same tree scanned the same
 * way). The SQLite backend plans with the CLI itself. Once pgPlanOps lands, `addPlan` on
 * PostgreSQL should plan through it instead.
 */
import { join } from 'node:path';
import type pg from 'pg';
import { openCatalog } from '../../src/catalog/open.js';
import type { DB } from '../../src/catalog/db.js';
import type { Catalog } from '../../src/catalog/port.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgPlanDevices } from '../../src/catalog/pg/plan-devices.js';
import { pgQueryOps } from '../../src/catalog/pg/query.js';
import { pgScanOps } from '../../src/catalog/pg/scan.js';
import type { QueryCatalog } from '../../src/catalog/query-port.js';
import type { ScanCatalog } from '../../src/catalog/scan-port.js';
import { hashall } from './cli.js';
import { pgBackend, pgTestCluster } from './scan-backends.js';

/** What the suite uses: scanning in, reading out. */
export type QueryTestCatalog = ScanCatalog &
  Pick<Catalog, 'unitOfWork' | 'planDevices'> &
  QueryCatalog;

export interface QueryOpened {
  readonly catalog: QueryTestCatalog;
  /** Give the catalog the plan the CLI makes of `reference` (a scanned SQLite catalog file). */
  addPlan(q: { readonly reference: string; readonly name: string }): Promise<void>;
  /**
   * A second connection to the same catalog, for a listing left early: close() fails when a
   * listing left it busy (SQLite: a statement still iterating).
   */
  another(): Promise<{ readonly catalog: QueryCatalog; close(): Promise<void> }>;
  /** Run SQL with superuser rights (PostgreSQL only; e.g. install an extension). */
  readonly admin?: (sql: string) => Promise<void>;
  close(): Promise<void>;
}

export interface QueryBackend {
  readonly name: string;
  readonly unavailable: string | undefined;
  setup(): Promise<void>;
  teardown(): void;
  open(dir: string): Promise<QueryOpened>;
}

export const sqliteQueryBackend: QueryBackend = {
  name: 'SQLite',
  unavailable: undefined,
  setup: async () => undefined,
  teardown: () => undefined,
  async open(dir) {
    const file = join(dir, 'c.db');
    const c = openCatalog(file);
    return {
      catalog: c,
      async addPlan({ name }) {
        const p = hashall(['conductor', 'plan', name, '--catalog', file, '--quiet']);
        if (p.code !== 0) throw new Error(`conductor plan failed: ${p.stderr}`);
      },
      async another() {
        const own = openCatalog(file, { readonly: true });
        return {
          catalog: own,
          close: async () => {
            own.db.close();
          },
        };
      },
      close: async () => {
        c.db.close();
      },
    };
  },
};

/** The plan tables, parents first. */
const PLAN_TABLES = ['conductor_plans', 'conductor_actions', 'conductor_plan_scope'] as const;

/** Copy every plan row of a SQLite catalog into PostgreSQL, ids and bytes unchanged. */
async function copyPlans(from: DB, to: pg.Client): Promise<void> {
  for (const table of PLAN_TABLES) {
    const rows = from.prepare(`SELECT * FROM ${table}`).safeIntegers(true).all() as Record<
      string,
      unknown
    >[];
    for (const row of rows) {
      const cols = Object.keys(row);
      const values = cols.map((k) => (typeof row[k] === 'bigint' ? String(row[k]) : row[k]));
      await to.query(
        `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        values,
      );
    }
  }
}

export const pgQueryBackend: QueryBackend = {
  name: 'PostgreSQL',
  unavailable: pgBackend.unavailable,
  setup: () => pgBackend.setup(),
  teardown: () => pgBackend.teardown(),
  async open() {
    const cluster = pgTestCluster();
    const db = await cluster.createDatabase();
    const conn = await connectPg(cluster.url(db));
    await migratePg(conn);
    const client = conn.client;
    return {
      catalog: { ...pgScanOps(client), ...pgQueryOps(client), planDevices: pgPlanDevices(client) },
      async addPlan({ reference }) {
        const ref = openCatalog(reference, { readonly: true });
        try {
          await copyPlans(ref.db, client);
        } finally {
          ref.db.close();
        }
      },
      async another() {
        const own = (await connectPg(cluster.url(db))).client;
        return { catalog: pgQueryOps(own), close: () => own.end() };
      },
      admin: async (sql) => {
        await cluster.admin(sql, [], db);
      },
      close: () => client.end(),
    };
  },
};

/** When each catalog saw a device or scanned: the only values the backends may differ in. */
const CLOCK = new Set(['firstSeenAt', 'lastSeenAt', 'lastScanAt', 'createdAt']);
/**
 * Not compared between backends either: a row's id (a file being hashed during the walk is
 * inserted when its hash comes back, so ids follow the workers' timing), and how SQLite
 * obtained its groups (`source`: its stored totals; PostgreSQL groups each time).
 */
const NOT_COMPARED = new Set(['fileId', 'source']);

/** A result with its clock readings zeroed (Buffers and BigInts kept as they are). */
export function timeless(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(timeless);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, timeless(x)]));
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !NOT_COMPARED.has(k))
      .map(([k, x]) => [k, CLOCK.has(k) ? 0 : timeless(x)]),
  );
}
