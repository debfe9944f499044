/**
 * The catalog backends a suite runs on: SQLite in a temp directory, and PostgreSQL in a
 * throwaway cluster (./pg.ts), with the reason it cannot run here when PostgreSQL is not
 * installed (a failure instead under HASHALL_REQUIRE_PG=1). Each opens the scan port and what
 * the tests inspect (the file rows, the transaction state), straight from the catalog.
 */
import { join } from 'node:path';
import { openCatalog } from '../../src/catalog/open.js';
import type { DeviceMountCatalog } from '../../src/catalog/device-mount-port.js';
import { pgDeviceMountOps } from '../../src/catalog/pg/device-mounts.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgScanOps, type PgScanCatalog } from '../../src/catalog/pg/scan.js';
import { pgInTransaction } from '../../src/catalog/pg/tx.js';
import { queuedClient, writeBehind } from '../../src/catalog/pg/write-behind.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from './pg.js';

export type FileRows = Map<string, { status: string; size: number; prefix: boolean; sha: boolean }>;

/** A catalog as the scan sees it (the port, without a handle), plus what the tests inspect. */
export interface Opened {
  readonly port: PgScanCatalog;
  /** name → status, size and hashes of every file row, read straight from the catalog. */
  rows(): Promise<FileRows>;
  /**
   * Every file and directory row, as text that two backends can compare: paths instead of
   * ids, bytes as hex, integers exactly.
   */
  dump(): Promise<CatalogDump>;
  /** Statements sent so far (PostgreSQL only: each is a round trip to the server). */
  readonly statements?: () => number;
  /** The texts of the statements sent so far (PostgreSQL only). */
  readonly statementTexts?: () => readonly string[];
  /** A count read straight from the catalog, after what the scan queued (PostgreSQL only). */
  readonly count?: (sql: string) => Promise<number>;
  /** Where hosts mount devices (the DeviceMountCatalog concern), on the same connection. */
  readonly deviceMounts: DeviceMountCatalog['deviceMounts'];
  /** Whether the connection still has a transaction open. */
  inTransaction(): boolean;
  /** The catalog's URL, for another connection to it (PostgreSQL only). */
  readonly url?: string;
  close(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** Why this backend cannot run here, or undefined. */
  readonly unavailable: string | undefined;
  setup(): Promise<void>;
  teardown(): void;
  open(dir: string): Promise<Opened>;
  /** Two connections to one new catalog, as two processes scanning into it at once. */
  openPair(dir: string): Promise<readonly [Opened, Opened]>;
}

export interface CatalogDump {
  readonly dirs: readonly string[];
  readonly files: readonly string[];
}

const DUMP_DIRS = `SELECT d.path, d.status, p.path AS parent FROM dirs d LEFT JOIN dirs p ON p.id = d.parent_id
                    ORDER BY d.path`;
const DUMP_FILES = `SELECT d.path AS dir, f.name, f.inode, f.nlink, f.size, f.mtime_ns, f.ctime_ns, f.mode,
                           f.uid, f.gid, f.blocks, f.prefix_hash, f.suffix_hash, f.sha256, f.status,
                           f.deleted_scan IS NULL AS live
                      FROM files f JOIN dirs d ON d.id = f.dir_id ORDER BY d.path, f.name`;

/** A row as one comparable line: Buffers as hex, numbers and BigInts and flags as digits. */
function line(row: Record<string, unknown>): string {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null) out[k] = null;
    else if (Buffer.isBuffer(v)) out[k] = v.toString('hex');
    else if (typeof v === 'boolean') out[k] = v ? '1' : '0';
    else out[k] = String(v as string | number | bigint);
  }
  return JSON.stringify(out);
}

export interface RawFile {
  name: Buffer;
  status: string;
  size: number | string;
  prefix_hash: Buffer | null;
  sha256: Buffer | null;
}

export const SELECT_ROWS = 'SELECT name, status, size, prefix_hash, sha256 FROM files ORDER BY id';

function toRows(all: readonly RawFile[]): FileRows {
  return new Map(
    all.map((r) => [
      r.name.toString(),
      {
        status: r.status,
        size: Number(r.size),
        prefix: r.prefix_hash !== null,
        sha: r.sha256 !== null,
      },
    ]),
  );
}

export const sqliteBackend: Backend = {
  name: 'SQLite',
  unavailable: undefined,
  setup: async () => undefined,
  teardown: () => undefined,
  async open(dir) {
    return openSqlite(join(dir, 'c.db'));
  },
  async openPair(dir) {
    return [openSqlite(join(dir, 'c.db')), openSqlite(join(dir, 'c.db'))];
  },
};

function openSqlite(path: string): Opened {
  const c = openCatalog(path);
  return {
    port: c,
    deviceMounts: c.deviceMounts,
    rows: async () => toRows(c.db.prepare(SELECT_ROWS).all() as RawFile[]),
    dump: async () => ({
      dirs: (c.db.prepare(DUMP_DIRS).safeIntegers(true).all() as Record<string, unknown>[]).map(
        line,
      ),
      files: (c.db.prepare(DUMP_FILES).safeIntegers(true).all() as Record<string, unknown>[]).map(
        line,
      ),
    }),
    inTransaction: () => c.db.inTransaction,
    close: async () => {
      c.db.close();
    },
  };
}

let cluster: PgCluster | undefined;
const pgReason = pgUnavailableReason();
if (pgReason && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${pgReason}`);
}
if (pgReason) console.warn(`skipping the PostgreSQL run of the catalog suites: ${pgReason}`);

/** The running cluster of pgBackend (after its setup), for tests that need roles or databases. */
export function pgTestCluster(): PgCluster {
  if (!cluster) throw new Error('pgBackend.setup() has not run');
  return cluster;
}

export const pgBackend: Backend = {
  name: 'PostgreSQL',
  unavailable: pgReason,
  async setup() {
    cluster = await startPgCluster();
  },
  teardown: () => cluster?.stop(),
  async open() {
    return openPg(cluster!.url(await cluster!.createDatabase()));
  },
  async openPair() {
    const url = cluster!.url(await cluster!.createDatabase());
    const first = await openPg(url);
    return [first, await openPg(url)];
  },
};

async function openPg(url: string): Promise<Opened> {
  const conn = await connectPg(url);
  await migratePg(conn);
  const client = conn.client;
  // Count what the port sends: every statement is a round trip.
  let statements = 0;
  const texts: string[] = [];
  const query = client.query.bind(client) as (...a: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    statements++;
    const q = args[0];
    texts.push(typeof q === 'string' ? q : ((q as { text?: string } | null)?.text ?? ''));
    return query(...args);
  }) as typeof client.query;
  const reader = queuedClient(client);
  return {
    statements: () => statements,
    statementTexts: () => texts,
    count: async (sql) => {
      await writeBehind(client).sync();
      return Number((await reader.query<{ n: string }>(sql)).rows[0]!.n);
    },
    port: pgScanOps(client),
    deviceMounts: pgDeviceMountOps(client).deviceMounts,
    // Read as the port's own readers do: after what the scan queued behind its walk.
    rows: async () => {
      await writeBehind(client).sync();
      return toRows((await reader.query<RawFile>(SELECT_ROWS)).rows);
    },
    dump: async () => {
      await writeBehind(client).sync();
      return {
        dirs: (await reader.query<Record<string, unknown>>(DUMP_DIRS)).rows.map(line),
        files: (await reader.query<Record<string, unknown>>(DUMP_FILES)).rows.map(line),
      };
    },
    inTransaction: () => pgInTransaction(client),
    url,
    close: () => client.end(),
  };
}
