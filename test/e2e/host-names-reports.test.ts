/**
 * Across hosts (README "Several hosts"): `stats`, `status`'s last scans, `export`, `conductor report` (JSON, CSV,
 * HTML), `plan` and `show-plan` name each device `host:mountpoint` once the catalog knows several
 * hosts, as `devices` and `dupes` do, and carry the host in their JSON and CSV (new keys after
 * the old ones); with one host their output is a single machine's, unchanged. `stats` keeps
 * the last scan of a root per host: the same path scanned by two hosts is two roots.
 * Hosts are simulated with HASHALL_HOST_ID / HASHALL_HOSTNAME on real tmpfs mounts, on both
 * catalog backends.
 */
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashall, type CliResult } from '../helpers/cli.js';
import { csvObjects } from '../helpers/csv.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { mountTmpfs, requireMounts, unmountAll } from '../helpers/mounts.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';

const NAS1 = { HASHALL_HOST_ID: 'n1', HASHALL_HOSTNAME: 'nas1' };
const BACKUP2 = { HASHALL_HOST_ID: 'b2', HASHALL_HOSTNAME: 'backup2' };

const PG_MISSING = pgUnavailableReason();
if (PG_MISSING && process.env.HASHALL_REQUIRE_PG === '1')
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${PG_MISSING}`);

let cluster: PgCluster | undefined;
const backends = [
  { name: 'sqlite', unavailable: undefined, catalog: (sub: string) => join(sub, 'c.db') },
  {
    name: 'postgresql',
    unavailable: PG_MISSING,
    catalog: async () => {
      cluster ??= await startPgCluster();
      return cluster.url(await cluster.createDatabase());
    },
  },
];

function envOf(host: Record<string, string>, catalog: string): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('PG')) clean[k] = '';
  return { ...clean, PGPASSFILE: '/nonexistent/pgpass', ...host, HASHALL_CATALOG: catalog };
}

function ok(r: CliResult): CliResult {
  expect([r.code, r.stderr]).toEqual([0, '']);
  return r;
}

interface LastScanJson {
  root: string;
  device: string | null;
  host: string | null;
  machine_id: string | null;
}

let dir: string;
beforeAll(() => {
  dir = realpathSync(tempDir('hashall-host-names-'));
});
afterAll(() => {
  unmountAll();
  cluster?.stop();
  removeTree(dir);
});

describe.each(backends)('reports name devices by host ($name)', (backend) => {
  it('stats, export, report and show-plan: plain with one host, host:mountpoint with two', async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    requireMounts(ctx);
    const sub = join(dir, backend.name);
    mkdirSync(sub);
    const catalog = await backend.catalog(sub);
    const pool = join(sub, 'pool');
    const tank = join(sub, 'tank');
    const common = join(sub, 'common');
    for (const m of [pool, tank, common]) mountTmpfs(m, 8);
    writeTree(pool, { 'a.bin': 'same on pool', 'b.bin': 'same on pool' });
    writeTree(tank, { 'x.bin': 'same on tank', 'y.bin': 'same on tank' });
    writeTree(common, { 'c.bin': 'common' });
    const nas1 = { env: envOf(NAS1, catalog) };
    const backup2 = { env: envOf(BACKUP2, catalog) };
    ok(hashall(['scan', pool, '-q'], nas1));
    ok(hashall(['scan', common, '-q'], nas1));
    ok(hashall(['conductor', 'plan', 'p', '--device', pool, '-q'], nas1));

    // One host: a single machine's output, unchanged.
    const stats1 = ok(hashall(['stats'], nas1)).stdout;
    expect(stats1).toContain(`\n   ${pool}  completed`);
    expect(stats1).not.toContain('nas1:');
    expect(stats1).not.toContain('Hosts:');
    expect(ok(hashall(['conductor', 'plan', 'whole1', '--device', 'pool'], nas1)).stdout).toContain(
      `   Scope: all of pool (${pool})\n`,
    );
    const show1 = ok(hashall(['conductor', 'show-plan', '1'], nas1)).stdout;
    expect(show1).toContain(`\n    ${join(pool, 'b.bin')}\n      ← ${join(pool, 'a.bin')}\n`);
    expect(show1).not.toContain('nas1:');

    // A second host scans its own filesystem, and the path nas1 scanned (its own tmpfs there).
    ok(hashall(['scan', tank, '-q'], backup2));
    ok(hashall(['scan', common, '-q'], backup2));

    // stats: every host's roots, the same path once per host.
    const stats = ok(hashall(['stats', '--json'], nas1)).json<{
      hosts: number;
      last_scans: LastScanJson[];
    }>();
    expect(stats.hosts).toBe(2);
    expect(stats.last_scans.map((s) => [s.root, s.host, s.machine_id, s.device])).toEqual([
      [common, 'backup2', 'b2', 'common-2'],
      [common, 'nas1', 'n1', 'common'],
      [pool, 'nas1', 'n1', 'pool'],
      [tank, 'backup2', 'b2', 'tank'],
    ]);
    const statsText = ok(hashall(['stats'], nas1)).stdout;
    expect(statsText).toContain('\n   Hosts:        2\n');
    expect(statsText).toContain(`\n   backup2:${common}  completed`);
    expect(statsText).toContain(`\n   nas1:${common}  completed`);
    expect(statsText).toContain(`\n   nas1:${pool}  completed`);
    expect(statsText).toContain(`\n   backup2:${tank}  completed`);

    // status lists the same last scans, named the same way.
    const status = ok(hashall(['conductor', 'status'], nas1)).stdout;
    expect(status).toContain(`\n  nas1:${pool}  completed`);
    expect(status).toContain(`\n  backup2:${tank}  completed`);
    const statusJson = ok(hashall(['conductor', 'status', '--json'], nas1)).json<{
      last_scans: { root: string; host: string }[];
    }>();
    expect(statusJson.last_scans.map((s) => [s.root, s.host])).toEqual([
      [common, 'backup2'],
      [common, 'nas1'],
      [pool, 'nas1'],
      [tank, 'backup2'],
    ]);

    // analyze --json: each device with the host whose mount is shown.
    const analyze = ok(hashall(['conductor', 'analyze', '--json'], backup2)).json<{
      devices: { alias: string; host: string }[];
    }>();
    expect(analyze.devices.map((d) => [d.alias, d.host])).toEqual([
      ['pool', 'nas1'],
      ['common', 'nas1'],
      ['tank', 'backup2'],
      ['common-2', 'backup2'],
    ]);

    // export: each row names its device's host; the old columns keep their places.
    const csvOut = join(sub, 'files.csv');
    ok(hashall(['export', '--out', csvOut], nas1));
    const { header, rows } = csvObjects(readFileSync(csvOut, 'utf8'));
    expect(header.slice(-3)).toEqual(['host', 'machine_id', 'device_label']);
    expect(header.slice(0, 4)).toEqual(['device_id', 'device', 'device_identity', 'mount_point']);
    const byPath = (p: string) => rows.find((r) => r.path === p)!;
    expect(byPath(join(pool, 'a.bin'))).toMatchObject({
      device: 'pool',
      mount_point: pool,
      host: 'nas1',
      machine_id: 'n1',
      device_label: `nas1:${pool}`,
    });
    expect(byPath(join(tank, 'x.bin'))).toMatchObject({
      device: 'tank',
      mount_point: tank,
      host: 'backup2',
      machine_id: 'b2',
      device_label: `backup2:${tank}`,
    });
    const jsonl = ok(hashall(['export', '--format', 'json', '--out', '-'], backup2))
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      jsonl
        .map((r) => [r.path, r.host, r.device_label])
        .filter(([p]) => (p as string).startsWith(`${sub}/`))
        .sort(),
    ).toEqual(
      [
        [join(common, 'c.bin'), 'backup2', `backup2:${common}`],
        [join(common, 'c.bin'), 'nas1', `nas1:${common}`],
        [join(pool, 'a.bin'), 'nas1', `nas1:${pool}`],
        [join(pool, 'b.bin'), 'nas1', `nas1:${pool}`],
        [join(tank, 'x.bin'), 'backup2', `backup2:${tank}`],
        [join(tank, 'y.bin'), 'backup2', `backup2:${tank}`],
      ].sort(),
    );

    // The plan report: devices and actions with their host, in JSON, CSV and HTML.
    const report = ok(
      hashall(['conductor', 'report', '1', '--format', 'json', '--out', '-'], nas1),
    ).json<{
      devices: { alias: string; mount_point: string; host: string; label: string }[];
      top_groups: { device: string; host: string }[];
      actions: { target: string; host: string; source_host: string }[];
    }>();
    expect(report.devices.map((d) => [d.alias, d.mount_point, d.host, d.label])).toEqual([
      ['pool', pool, 'nas1', `nas1:${pool}`],
    ]);
    expect(report.top_groups.map((g) => [g.device, g.host])).toEqual([['pool', 'nas1']]);
    expect(report.actions.map((a) => [a.target, a.host, a.source_host])).toEqual([
      [join(pool, 'b.bin'), 'nas1', 'nas1'],
    ]);
    const csv = csvObjects(
      ok(hashall(['conductor', 'report', '1', '--format', 'csv', '--out', '-'], nas1)).stdout,
    );
    expect(csv.header.slice(-2)).toEqual(['host', 'source_host']);
    expect(csv.rows.map((r) => [r.target, r.host, r.source_host])).toEqual([
      [join(pool, 'b.bin'), 'nas1', 'nas1'],
    ]);
    const html = join(sub, 'plan.html');
    ok(hashall(['conductor', 'report', '1', '--out', html], nas1));
    const page = readFileSync(html, 'utf8');
    expect(page).toContain(`pool (nas1:${pool})`);
    expect(page).toContain(JSON.stringify(`nas1:${join(pool, 'b.bin')}`));

    // plan names its device the same way.
    expect(ok(hashall(['conductor', 'plan', 'whole2', '--device', 'pool'], nas1)).stdout).toContain(
      `   Scope: all of pool (nas1:${pool})\n`,
    );

    // show-plan, seen from the other host: nas1's paths, named by host.
    const show = ok(hashall(['conductor', 'show-plan', '1'], backup2)).stdout;
    expect(show).toContain(
      `\n    nas1:${join(pool, 'b.bin')}\n      ← nas1:${join(pool, 'a.bin')}\n`,
    );
    const showJson = ok(hashall(['conductor', 'show-plan', '1', '--json'], backup2)).json<{
      actions: { target: string; host: string; source_host: string }[];
    }>();
    expect(showJson.actions.map((a) => [a.target, a.host, a.source_host])).toEqual([
      [join(pool, 'b.bin'), 'nas1', 'nas1'],
    ]);
  });
});
