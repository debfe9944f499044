/**
 * Devices as hosts see them (README "Several hosts"), on both backends: a scan records where
 * its host mounts each device (`device_mounts`); a bare device number (`dev:MAJ:MIN`, tmpfs) is
 * qualified by the host, so two hosts' tmpfs never merge, while a filesystem UUID is one device
 * wherever it is seen; a row from before hosts is adopted by its host, keeping its id.
 * Hosts are simulated by HASHALL_HOST_ID/HASHALL_HOSTNAME, and by processes in their own mount
 * namespaces (`unshare --mount`) with a tmpfs of their own at the same path.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as ScannerMod from '../../src/scan/scanner.js';
import type { DeviceRow } from '../../src/catalog/devices.js';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import {
  mountImage,
  mountTmpfs,
  mountUnavailableReason,
  requireMounts,
  unmountAll,
} from '../helpers/mounts.js';
import { pgBackend, pgTestCluster, sqliteBackend, type Backend } from '../helpers/scan-backends.js';

const dist = (m: string) => new URL(`../../dist/${m}`, import.meta.url).href;
const { runScan } = (await import(dist('scan/scanner.js'))) as typeof ScannerMod;

/** The environment of a CLI run or child: no PG* variable of the machine leaks in. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('PG')) clean[k] = '';
  return { ...clean, PGPASSFILE: '/nonexistent/pgpass', ...extra };
}

/** Run fn as the host (machine id, hostname): runScan reads the overrides from the environment. */
async function asHost<T>(id: string, name: string, fn: () => Promise<T>): Promise<T> {
  const saved = [process.env.HASHALL_HOST_ID, process.env.HASHALL_HOSTNAME];
  process.env.HASHALL_HOST_ID = id;
  process.env.HASHALL_HOSTNAME = name;
  try {
    return await fn();
  } finally {
    if (saved[0] === undefined) delete process.env.HASHALL_HOST_ID;
    else process.env.HASHALL_HOST_ID = saved[0];
    if (saved[1] === undefined) delete process.env.HASHALL_HOSTNAME;
    else process.env.HASHALL_HOSTNAME = saved[1];
  }
}

function unshareReason(): string | undefined {
  return (
    mountUnavailableReason() ??
    (spawnSync('unshare', ['--mount', 'true']).status === 0
      ? undefined
      : 'unshare --mount is not permitted here')
  );
}

const sighting = (identity: string, mountPoint: string) => ({
  identity,
  stable: false,
  fsType: 'tmpfs',
  stDev: 52n,
  mountPoint: Buffer.from(mountPoint),
  mountRoot: Buffer.from('/'),
});

const backends: Backend[] = [sqliteBackend, pgBackend];

describe.each(backends)('devices as hosts see them ($name)', (backend) => {
  let dir: string;

  beforeAll(async () => {
    if (!backend.unavailable) await backend.setup();
    dir = realpathSync(tempDir('hashall-devhosts-'));
  }, 120_000);

  afterAll(() => {
    unmountAll();
    if (!backend.unavailable) backend.teardown();
    removeTree(dir);
  });

  it('a bare device number from before hosts is adopted by the host that registers it, keeping its id; another host gets its own', async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    const sub = join(dir, 'adopt');
    mkdirSync(sub);
    const cat = await backend.open(sub);
    try {
      // As a catalog from before hosts recorded it: no host, the bare number.
      const old = await cat.port.devices.register(sighting('dev:0:52', '/mnt/t'));
      const nas1 = { machineId: 'n1', hostname: 'nas1' };
      const again = await cat.port.devices.register({
        ...sighting('dev:0:52@n1', '/mnt/t'),
        host: nas1,
      });
      expect(again.id).toBe(old.id);
      expect(again.identity).toBe('dev:0:52@n1');
      expect(again.mounts?.map((m) => [m.hostname, m.mountPoint.toString()])).toEqual([
        ['nas1', '/mnt/t'],
      ]);
      // backup2's tmpfs with the same number is another filesystem: another device.
      const other = await cat.port.devices.register({
        ...sighting('dev:0:52@b2', '/mnt/t'),
        host: { machineId: 'b2', hostname: 'backup2' },
      });
      expect(other.id).not.toBe(old.id);
      const list = await cat.port.devices.list();
      expect(list.map((d) => d.identity)).toEqual(['dev:0:52@n1', 'dev:0:52@b2']);
    } finally {
      await cat.close();
    }
  });

  it("a scan left running by another host is that host's to close, not this one's", async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    const sub = join(dir, 'running');
    const tree = join(sub, 'tree');
    mkdirSync(tree, { recursive: true });
    writeTree(tree, { 'a.txt': 'a' });
    const cat = await backend.open(sub);
    try {
      // nas1's scan, its process unknown here (no such pid on this machine).
      const theirs = await cat.port.scans.start({
        root: Buffer.from('/pool'),
        owner: { pid: 2 ** 22 + 1, startTime: '1', host: { machineId: 'n1', hostname: 'nas1' } },
      });
      const b = await asHost('b2', 'backup2', () => runScan(cat.port, { roots: [tree], jobs: 1 }));
      expect(b.recovered).toEqual([]);
      expect((await cat.port.scans.running()).map((r) => [r.id, r.machineId])).toEqual([
        [theirs, 'n1'],
      ]);
      // nas1 itself finds its process gone: the scan was killed, and is closed.
      const n = await asHost('n1', 'nas1', () => runScan(cat.port, { roots: [tree], jobs: 1 }));
      expect(n.recovered.map((r) => r.root.toString())).toEqual(['/pool']);
      expect(await cat.port.scans.running()).toEqual([]);
    } finally {
      await cat.close();
    }
  });

  it('one tmpfs scanned by two hosts is two devices; one UUID filesystem is one device with two mounts', async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    requireMounts(ctx);
    const sub = join(dir, 'two');
    const tmp = join(sub, 'tmp');
    const ext = join(sub, 'ext');
    mkdirSync(sub, { recursive: true });
    mountTmpfs(tmp, 8);
    mountImage(join(sub, 'ext.img'), ext, 'ext4', 32);
    writeTree(tmp, { 'a.bin': 'same', 'b.bin': 'same' });
    writeTree(ext, { 'c.bin': 'other', 'd.bin': 'other' });
    const cat = await backend.open(sub);
    try {
      for (const [id, name] of [
        ['n1', 'nas1'],
        ['b2', 'backup2'],
      ] as const) {
        const s = await asHost(id, name, () => runScan(cat.port, { roots: [tmp, ext], jobs: 1 }));
        expect(s.errors).toEqual([]);
      }
      const list = await cat.port.devices.list();
      const tmpfs = list.filter((d) => d.fsType === 'tmpfs');
      // The same device number, qualified by each host: two devices.
      expect(tmpfs.map((d) => d.identity.replace(/@.*/, ''))).toEqual([
        tmpfs[0]!.identity.replace(/@.*/, ''),
        tmpfs[0]!.identity.replace(/@.*/, ''),
      ]);
      expect(tmpfs.map((d) => d.identity.replace(/^dev:\d+:\d+/, ''))).toEqual(['@n1', '@b2']);
      const hostsOf = (d: DeviceRow) => (d.mounts ?? []).map((m) => m.hostname).sort();
      expect(tmpfs.map(hostsOf)).toEqual([['nas1'], ['backup2']]);
      const ext4 = list.filter((d) => d.fsType === 'ext4');
      expect(ext4).toHaveLength(1);
      expect(ext4[0]!.identity).toMatch(/^uuid:/);
      expect(hostsOf(ext4[0]!)).toEqual(['backup2', 'nas1']);
      // Seen from nas1: its tmpfs is here; backup2's is elsewhere; the ext4 disk is on both.
      const placed = await cat.deviceMounts.placement({
        machineId: 'n1',
        deviceIds: [...tmpfs, ...ext4].map((d) => d.id),
      });
      expect(
        placed.map((p) => [p.alias, p.here?.hostname, p.elsewhere.map((m) => m.hostname)]),
      ).toEqual([
        [tmpfs[0]!.alias, 'nas1', []],
        [tmpfs[1]!.alias, undefined, ['backup2']],
        [ext4[0]!.alias, 'nas1', ['backup2']],
      ]);
      // Each host's files are its own device's: both tmpfs devices hold two active files.
      const usage = await cat.port.devices.usage();
      expect(tmpfs.map((d) => usage.get(d.id)?.files)).toEqual([2, 2]);
    } finally {
      await cat.close();
    }
  }, 120_000);

  it("each host hashes its own devices' candidates; another host's wait for it", async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    requireMounts(ctx);
    const sub = join(dir, 'hash');
    const tmp = join(sub, 'tmp');
    mkdirSync(sub, { recursive: true });
    mountTmpfs(tmp, 8);
    writeTree(tmp, { 'big.bin': Buffer.alloc(10_000, 7) });
    const cat = await backend.open(sub);
    try {
      const scanAs = (id: string, name: string) =>
        asHost(id, name, () => runScan(cat.port, { roots: [tmp], jobs: 1 }));
      // nas1's file alone: a unique size, nothing to hash.
      expect((await scanAs('n1', 'nas1')).pending).toBe(0);
      // backup2's tmpfs has the same number and mount point here, but nas1's file is nas1's
      // to read: backup2 hashes its own twin, nas1's stays pending.
      const b = await scanAs('b2', 'backup2');
      expect(b.pending).toBe(1);
      expect(b.hashedFiles).toBe(1);
      // nas1's next scan hashes its own (a small file: whole, both hashes at once).
      const n = await scanAs('n1', 'nas1');
      expect([n.pending, n.hashedFiles]).toEqual([0, 1]);
    } finally {
      await cat.close();
    }
  }, 120_000);

  it('two hosts in their own mount namespaces, each its own tmpfs at the same path: two devices, each listed under its host', async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    const why = unshareReason();
    if (why) {
      if (process.env.HASHALL_REQUIRE_MOUNTS === '1') throw new Error(why);
      ctx.skip(why);
    }
    const sub = join(dir, 'ns');
    const data = join(sub, 'data');
    mkdirSync(data, { recursive: true });
    const where =
      backend === pgBackend
        ? pgTestCluster().url(await pgTestCluster().createDatabase())
        : join(sub, 'c.db');
    const script = join(sub, 'scan.mjs');
    const mod = (p: string) => JSON.stringify(pathToFileURL(join(CLI, '..', '..', p)).href);
    writeFileSync(
      script,
      [
        `const { runScan } = await import(${mod('scan/scanner.js')});`,
        'const [kind, where, root] = process.argv.slice(2);',
        'let port, close;',
        "if (kind === 'sqlite') {",
        `  const { openCatalog } = await import(${mod('catalog/open.js')});`,
        '  port = openCatalog(where); close = () => port.close();',
        '} else {',
        `  const { connectPg } = await import(${mod('catalog/pg/connect.js')});`,
        `  const { migratePg } = await import(${mod('catalog/pg/migrate.js')});`,
        `  const { pgScanOps } = await import(${mod('catalog/pg/scan.js')});`,
        '  const conn = await connectPg(where); await migratePg(conn);',
        '  port = pgScanOps(conn.client); close = () => conn.client.end();',
        '}',
        'const s = await runScan(port, { roots: [root], jobs: 1 });',
        'await close();',
        'console.log(JSON.stringify({ files: s.files, errors: s.errors.length }));',
      ].join('\n'),
    );
    const kind = backend === pgBackend ? 'pg' : 'sqlite';
    // A host: its own mount namespace, a tmpfs of its own over `data`, two files, a scan.
    const simulate = (id: string, name: string) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(
          'unshare',
          [
            '--mount',
            'sh',
            '-c',
            'mount -t tmpfs -o size=4m tmpfs "$1" && printf same > "$1/a" && printf same > "$1/b" && exec "$2" "$3" "$4" "$5" "$1"',
            'sh',
            data,
            process.execPath,
            script,
            kind,
            where,
          ],
          { env: { ...process.env, ...cleanEnv({ HASHALL_HOST_ID: id, HASHALL_HOSTNAME: name }) } },
        );
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('close', (code) => resolve({ code, out, err }));
      });
    for (const [id, name] of [
      ['n1', 'nas1'],
      ['b2', 'backup2'],
    ] as const) {
      const r = await simulate(id, name);
      expect([r.code, r.err]).toEqual([0, '']);
      expect(JSON.parse(r.out)).toEqual({ files: 2, errors: 0 });
    }
    // The test's own namespace never saw either tmpfs.
    expect(spawnSync('mountpoint', ['-q', data]).status).not.toBe(0);
    const r = hashall(['hosts', '--catalog', where, '--json'], {
      env: cleanEnv({ HASHALL_HOST_ID: 'b2', HASHALL_HOSTNAME: 'backup2' }),
    });
    expect(r.code).toBe(0);
    const hosts = r.json<{
      hosts: {
        hostname: string;
        devices: { device_id: number; identity: string; mount_point: string }[];
      }[];
    }>().hosts;
    expect(hosts.map((h) => [h.hostname, h.devices.map((d) => d.mount_point)])).toEqual([
      ['nas1', [data]],
      ['backup2', [data]],
    ]);
    const [a, b] = hosts.map((h) => h.devices[0]!);
    expect(a!.device_id).not.toBe(b!.device_id);
    expect(a!.identity).toMatch(/^dev:\d+:\d+@n1$/);
    expect(b!.identity).toMatch(/^dev:\d+:\d+@b2$/);
    const human = hashall(['hosts', '--catalog', where], {
      env: cleanEnv({ HASHALL_HOST_ID: 'b2', HASHALL_HOSTNAME: 'backup2' }),
    });
    expect(human.stdout).toContain(`\nDEVICE`);
    expect(human.stdout).toContain(`nas1:${data}`);
    expect(human.stdout).toContain(`backup2:${data}`);
  }, 120_000);
});
