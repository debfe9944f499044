/**
 * The catalog backends the plan suites run on (the pattern of ./scan-backends.ts): SQLite in a
 * temp directory, and PostgreSQL in a throwaway cluster (./pg.ts) as the scan and plan
 * concerns of the port compose it, `{...pgScanOps(client), ...pgPlanOps(client)}`; skipped
 * with the reason when PostgreSQL is not installed (a failure under HASHALL_REQUIRE_PG=1).
 * Catalogs are filled by real scans of real trees (runScan, the module the CLI calls).
 */
import { linkSync, lstatSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openCatalog } from '../../src/catalog/open.js';
import type { PlanCatalog } from '../../src/catalog/plan-port.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { pgPlanOps } from '../../src/catalog/pg/plan.js';
import { pgExecuteOps } from '../../src/catalog/pg/execute.js';
import type { ExecuteCatalog } from '../../src/catalog/execute-port.js';
import { pgScanOps, type PgScanCatalog } from '../../src/catalog/pg/scan.js';
import { visiblePathMapper } from '../../src/conductor/visible-path.js';
import type * as ScannerMod from '../../src/scan/scanner.js';
import { hashall } from './cli.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from './pg.js';

// The scanner from dist: its hash pool starts the compiled hash-worker.js (build first).
const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { runScan } = (await import(dist('scan/scanner.js'))) as typeof ScannerMod;

/** The catalog as planning, discard and undo use it, and the scan that fills it. */
/** discard also asks the executor lock who holds the plan's devices. */
export type PlanTestCatalog = PgScanCatalog & PlanCatalog & Pick<ExecuteCatalog, 'executorLock'>;

export interface PlanOpened {
  readonly port: PlanTestCatalog;
  /** Scan trees into the catalog (runScan); fails the test on any scan error. */
  scan(...roots: string[]): Promise<ScannerMod.ScanSummary>;
  /** The directories the last `planning.restrictTo` selected (its temporary table), by path. */
  scopeDirs(): Promise<{ deviceId: number; path: Buffer }[]>;
  /** The database's URL (PostgreSQL only), for a test's second connection. */
  readonly url?: string;
  /** Statements sent so far (PostgreSQL only: each is a round trip to the server). */
  readonly statements?: () => number;
  /** Link a plan's pending HARDLINK actions and record them executed (see each backend). */
  execute(planId: number): Promise<void>;
  close(): Promise<void>;
}

export interface PlanBackend {
  readonly name: string;
  /** Why this backend cannot run here, or undefined. */
  readonly unavailable: string | undefined;
  setup(): Promise<void>;
  teardown(): void;
  /** A fresh, empty catalog (dir: a temp directory of the test's). */
  open(dir: string): Promise<PlanOpened>;
}

async function scanInto(port: PlanTestCatalog, roots: string[]): Promise<ScannerMod.ScanSummary> {
  const s = await runScan(port, { roots, jobs: 1 });
  expect(s.errors).toEqual([]);
  return s;
}

const SCOPE_DIRS = `SELECT d.device_id, d.path FROM $TEMP.scope_dirs s JOIN dirs d ON d.id = s.id
                     ORDER BY d.device_id, d.path`;

export const sqlitePlanBackend: PlanBackend = {
  name: 'SQLite',
  unavailable: undefined,
  setup: async () => undefined,
  teardown: () => undefined,
  async open(dir) {
    const path = join(dir, 'catalog.db');
    const c = openCatalog(path);
    return {
      port: c,
      scan: (...roots) => scanInto(c, roots),
      scopeDirs: async () =>
        (
          c.db.prepare(SCOPE_DIRS.replace('$TEMP', 'temp')).all() as {
            device_id: number;
            path: Buffer;
          }[]
        ).map((r) => ({ deviceId: Number(r.device_id), path: r.path })),
      // The real execute (the CLI, dist/), on the same catalog file.
      async execute(planId) {
        const ex = hashall([
          'conductor',
          'execute',
          String(planId),
          '--force',
          '-q',
          '--catalog',
          path,
        ]);
        expect(ex.stderr).toBe('');
        expect(ex.code).toBe(0);
      },
      close: async () => {
        c.db.close();
      },
    };
  },
};

let cluster: PgCluster | undefined;
const pgReason = pgUnavailableReason();
if (pgReason && process.env.HASHALL_REQUIRE_PG === '1') {
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${pgReason}`);
}
if (pgReason) console.warn(`skipping the PostgreSQL run of the plan suites: ${pgReason}`);

/** The running cluster of pgPlanBackend (after its setup), for tests that make databases. */
export function pgPlanCluster(): PgCluster {
  if (!cluster) throw new Error('pgPlanBackend.setup() has not run');
  return cluster;
}

/**
 * Execute by hand what the executor does to a plan's HARDLINK targets and records of them:
 * each target replaced by a link of the kept file (link beside it, rename over it), the action
 * executed with the target's original metadata, the kept inode's ctime and link count after
 * our links, the plan executed. The execute concern on PostgreSQL is another branch's
 * (pg/execute*.ts); once merged, this becomes the real executor, as the SQLite run uses.
 */
async function executeByHand(
  client: import('pg').Client,
  port: PlanTestCatalog,
  planId: number,
): Promise<void> {
  const abs = visiblePathMapper(await port.planDevices.list());
  const actions = await port.planActions.page({
    planId,
    afterId: 0,
    limit: 10_000,
    types: ['HARDLINK'],
  });
  const kept = new Map<string, { planId: number; deviceId: number; inode: bigint; path: Buffer }>();
  for (const a of actions.filter((x) => x.status === 'pending')) {
    const source = abs(a.sourceDeviceId, a.sourcePath);
    const target = abs(a.deviceId, a.targetPath);
    const orig = lstatSync(target, { bigint: true });
    const temp = Buffer.concat([target, Buffer.from('.hashall-test-link')]);
    linkSync(source, temp);
    renameSync(temp, target);
    await client.query(
      `UPDATE conductor_actions SET status = 'executed', executed_at = $2, orig_uid = $3,
              orig_gid = $4, orig_mode = $5, orig_atime_ns = $6, orig_mtime_ns = $7
        WHERE id = $1`,
      [a.id, Date.now(), orig.uid, orig.gid, orig.mode, orig.atimeNs, orig.mtimeNs],
    );
    kept.set(`${a.sourceDeviceId}:${a.sourceInode}`, {
      planId,
      deviceId: a.sourceDeviceId,
      inode: a.sourceInode,
      path: source,
    });
  }
  for (const k of kept.values()) {
    const st = lstatSync(k.path, { bigint: true });
    await client.query(
      `INSERT INTO conductor_inode_state (plan_id, device_id, inode, ctime_ns, nlink)
       VALUES ($1, $2, $3, $4, $5)`,
      [k.planId, k.deviceId, k.inode, st.ctimeNs, st.nlink],
    );
  }
  await port.plans.setStatus({ id: planId, status: 'executed', executedAt: Date.now() });
}

export const pgPlanBackend: PlanBackend = {
  name: 'PostgreSQL',
  unavailable: pgReason,
  async setup() {
    cluster = await startPgCluster();
  },
  teardown: () => cluster?.stop(),
  async open() {
    const url = cluster!.url(await cluster!.createDatabase());
    const conn = await connectPg(url);
    await migratePg(conn);
    const client = conn.client;
    // Count what the port sends: every statement is a round trip.
    let statements = 0;
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      statements++;
      return query(...args);
    }) as typeof client.query;
    const port: PlanTestCatalog = {
      ...pgScanOps(client),
      ...pgPlanOps(client),
      executorLock: pgExecuteOps(client).executorLock,
    };
    return {
      port,
      url,
      statements: () => statements,
      scan: (...roots) => scanInto(port, roots),
      scopeDirs: async () =>
        (
          await client.query<{ device_id: string; path: Buffer }>(
            SCOPE_DIRS.replace('$TEMP', 'pg_temp'),
          )
        ).rows.map((r) => ({ deviceId: Number(r.device_id), path: r.path })),
      execute: (planId) => executeByHand(client, port, planId),
      close: () => client.end(),
    };
  },
};

export const planBackends: readonly PlanBackend[] = [sqlitePlanBackend, pgPlanBackend];
