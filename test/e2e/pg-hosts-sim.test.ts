/**
 * Several hosts, one PostgreSQL catalog, through the real CLI: four simulated hosts, each a
 * process tree in a mount namespace of its own (`unshare --mount`) with its own tmpfs at the
 * same path and its own identity (HASHALL_HOST_ID / HASHALL_HOSTNAME). nas1 scans and plans
 * its filesystem, then executes its plan while backup2, media3 and tv4 scan theirs at the same
 * moment. Every row lands once, on its own device; no two hosts' tmpfs merge; the plan and its
 * links stay on nas1's filesystem; the cross-host dupes listing names each copy by host; and
 * another host's execute of a plan on backup2's filesystem is refused, naming backup2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { mountUnavailableReason } from '../helpers/mounts.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';

const MISSING =
  pgUnavailableReason() ??
  mountUnavailableReason() ??
  (spawnSync('unshare', ['--mount', 'true']).status === 0
    ? undefined
    : 'unshare --mount is not permitted here');
const required =
  process.env.HASHALL_REQUIRE_PG === '1' || process.env.HASHALL_REQUIRE_MOUNTS === '1';
if (MISSING && required) throw new Error(`simulated hosts are required: ${MISSING}`);
if (MISSING) console.warn(`skipping the simulated hosts: ${MISSING}`);

/** The environment of a host: its identity, the catalog, and no PG* variable of the machine. */
function hostEnv(id: string, name: string, catalog: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && v) env[k] = v;
  return { ...env, HASHALL_HOST_ID: id, HASHALL_HOSTNAME: name, HASHALL_CATALOG: catalog };
}

interface HostRun {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/**
 * A host's life as one shell in its own mount namespace (its tmpfs goes when the shell ends):
 * mount a tmpfs over `data`, write its files, then run `steps` (shell, `$H` is hashall).
 */
function host(
  id: string,
  name: string,
  catalog: string,
  data: string,
  steps: string,
): Promise<HostRun> {
  const script = [
    'set -e',
    'mount -t tmpfs -o size=16m tmpfs "$DATA"',
    'mkdir "$DATA/own" "$DATA/dup" "$DATA/common"',
    'for i in $(seq 1 40); do printf "%s own %d" "$HASHALL_HOSTNAME" "$i" > "$DATA/own/f$i"; done',
    // Duplicates inside the host: 6 contents, 3 copies each (2 of them saveable).
    'for k in 1 2 3 4 5 6; do for c in a b c; do head -c $((k * 4096)) /dev/zero | tr "\\0" "$k" | sed "s/^/$HASHALL_HOSTNAME/" > "$DATA/dup/$k$c"; done; done',
    // The same contents on every host: found across hosts, never linked across them.
    'for k in 1 2 3; do head -c 8192 /dev/zero | tr "\\0" "c" | sed "s/^/common$k/" > "$DATA/common/c$k"; done',
    steps,
  ].join('\n');
  return new Promise((resolve) => {
    const p = spawn('unshare', ['--mount', 'sh', '-c', script], {
      env: { ...hostEnv(id, name, catalog), DATA: data, H: `${process.execPath} ${CLI}` },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const json = <T>(text: string) => JSON.parse(text) as T;

describe.skipIf(MISSING)('four hosts, one PostgreSQL catalog', () => {
  let cluster: PgCluster;
  let dir: string;
  let catalog: string;
  let db: string;

  beforeAll(async () => {
    cluster = await startPgCluster();
    db = await cluster.createDatabase();
    catalog = cluster.url(db);
    dir = realpathSync(tempDir('hashall-hosts-sim-'));
  }, 120_000);

  afterAll(() => {
    cluster?.stop();
    if (dir) removeTree(dir);
  });

  it('three scan while a fourth executes: rows once each, no merge, links only on the executing host', async () => {
    const data = join(dir, 'data');
    mkdirSync(data);
    const ready = join(dir, 'nas1.ready');
    const go = join(dir, 'go');
    // nas1: scan, plan its own filesystem, say so, wait for the others to start, execute.
    const nas1 = host(
      'n1',
      'nas1',
      catalog,
      data,
      [
        '$H scan "$DATA" -q',
        '$H conductor plan nas1 "$DATA" -q',
        `touch ${ready}`,
        `while [ ! -e ${go} ]; do sleep 0.05; done`,
        '$H conductor execute 1 --force --json',
        '$H scan "$DATA" --json > /dev/null',
        'echo "inodes $(find "$DATA/dup" -type f -exec stat -c %i {} + | sort -u | wc -l)"',
      ].join('\n'),
    );
    for (let i = 0; !existsSync(ready); i++) {
      if (i > 1200) throw new Error('nas1 never got to its execute');
      await new Promise((r) => setTimeout(r, 50));
    }
    const scanners = [
      ['b2', 'backup2'],
      ['m3', 'media3'],
      ['t4', 'tv4'],
    ].map(([id, name]) => host(id!, name!, catalog, data, '$H scan "$DATA" --json'));
    writeFileSync(go, '');
    const [n, ...others] = await Promise.all([nas1, ...scanners]);
    expect([n!.code, n!.err], n!.err).toEqual([0, '']);
    for (const o of others) {
      expect([o.code, o.err], o.err).toEqual([0, '']);
      expect(json<{ files: number; new: number }>(o.out)).toMatchObject({ files: 61, new: 61 });
    }
    const executed = json<{ executed: number; failed: number; bytes_saved: number }>(
      n!.out.slice(0, n!.out.lastIndexOf('inodes')),
    );
    // Six contents of k × 4 KiB plus the host's name, two copies of each freed; the common
    // contents are once on each host, so nothing of them.
    expect(executed.failed).toBe(0);
    expect(executed.bytes_saved).toBe(2 * ((1 + 2 + 3 + 4 + 5 + 6) * 4096 + 6 * 'nas1'.length));
    expect(n!.out).toMatch(/inodes 6\n$/);

    // Every row once, each host's on a device of its own (four tmpfs at one path never merge).
    const rows = await cluster.admin<{ host: string; files: string; devices: string }>(
      `SELECT h.hostname AS host, count(f.id)::text AS files, count(DISTINCT f.device_id)::text AS devices
         FROM files f JOIN device_mounts m ON m.device_id = f.device_id JOIN hosts h ON h.id = m.host_id
        WHERE f.status = 'active' GROUP BY h.hostname ORDER BY h.hostname`,
      [],
      db,
    );
    expect(rows.rows).toEqual(
      ['backup2', 'media3', 'nas1', 'tv4'].map((h) => ({ host: h, files: '61', devices: '1' })),
    );
    const devices = await cluster.admin<{ n: string }>(
      'SELECT count(*)::text AS n FROM devices',
      [],
      db,
    );
    expect(devices.rows[0]!.n).toBe('4');
    // The plan acted on nas1's filesystem only.
    const acted = await cluster.admin<{ host: string }>(
      `SELECT DISTINCT h.hostname AS host FROM conductor_actions a
         JOIN device_mounts m ON m.device_id = a.device_id JOIN hosts h ON h.id = m.host_id`,
      [],
      db,
    );
    expect(acted.rows).toEqual([{ host: 'nas1' }]);

    // Across hosts: the common contents, each copy named by its host.
    const cross = hashall(['dupes', '--cross-device'], {
      env: hostEnv('ctl', 'control', catalog),
    });
    expect(cross.code, cross.stderr).toBe(0);
    for (const h of ['nas1', 'backup2', 'media3', 'tv4']) expect(cross.stdout).toContain(`${h}:`);
    console.log(`hashall dupes --cross-device (as host "control"):\n${cross.stdout}`);

    // A plan on backup2's filesystem is refused on any other host, naming backup2.
    const alias = json<{ devices: { alias: string; host: string | null }[] }>(
      hashall(['devices', '--json'], { env: hostEnv('ctl', 'control', catalog) }).stdout,
    ).devices.find((d) => JSON.stringify(d).includes('backup2'))!.alias;
    const planned = hashall(['conductor', 'plan', 'elsewhere', '--device', alias, '--json'], {
      env: hostEnv('ctl', 'control', catalog),
    });
    expect(planned.code, planned.stderr).toBe(0);
    const id = json<{ id: number }>(planned.stdout).id;
    const refused = hashall(['conductor', 'execute', String(id), '--force'], {
      env: hostEnv('ctl', 'control', catalog),
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/backup2/);
    expect(refused.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  }, 600_000);
});
