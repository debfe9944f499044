/**
 * Devices as hosts see them, through the CLI on an SQLite catalog (the commands that do not run
 * on PostgreSQL yet): an SQLite catalog from before hosts migrates with its devices kept and
 * its bare device numbers adopted by this host; listings name a device `host:mountpoint` once
 * the catalog knows several hosts (and not before); `execute` refuses a plan acting on a device
 * another host mounts, naming that host, and changes nothing. Hosts are simulated with
 * HASHALL_HOST_ID / HASHALL_HOSTNAME on real tmpfs mounts.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/catalog/migrations.js';
import { hashall, type CliResult } from '../helpers/cli.js';
import { inodeOf, removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { mountTmpfs, requireMounts, unmountAll } from '../helpers/mounts.js';

const NAS1 = { HASHALL_HOST_ID: 'n1', HASHALL_HOSTNAME: 'nas1' };
const BACKUP2 = { HASHALL_HOST_ID: 'b2', HASHALL_HOSTNAME: 'backup2' };

function ok(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

interface DeviceJson {
  id: number;
  alias: string;
  identity: string;
  mount_point: string;
  host: string | null;
  mounts: { host: string; mount_point: string }[];
}

let dir: string;

describe('devices as hosts see them (CLI, SQLite)', () => {
  beforeAll(() => {
    dir = realpathSync(tempDir('hashall-devhosts-cli-'));
  });
  afterAll(() => {
    unmountAll();
    removeTree(dir);
  });

  it('an SQLite catalog from before hosts migrates with its devices kept; its host adopts its bare device numbers', (ctx) => {
    requireMounts(ctx);
    const sub = join(dir, 'old');
    const mnt = join(sub, 'mnt');
    const db = join(sub, 'c.db');
    mkdirSync(sub);
    mountTmpfs(mnt, 8);
    writeTree(mnt, { 'a.bin': 'same', 'b.bin': 'same', 'c.bin': 'other' });
    ok(hashall(['scan', mnt, '--catalog', db], { env: NAS1 }));
    // Make it a catalog from before device_mounts: no hosts, bare device numbers.
    const lite = new Database(db);
    const before = lite.prepare('SELECT id, identity FROM devices').get() as {
      id: number;
      identity: string;
    };
    expect(before.identity).toMatch(/^dev:\d+:\d+@n1$/);
    const bare = before.identity.replace(/@n1$/, '');
    lite.exec(`DROP TABLE device_mounts; DROP TABLE scan_hosts; DELETE FROM hosts;`);
    lite.prepare('UPDATE devices SET identity = ?').run(bare);
    const version = MIGRATIONS.findIndex(
      (m) => typeof m === 'string' && m.includes('CREATE TABLE IF NOT EXISTS device_mounts'),
    );
    expect(version).toBeGreaterThan(0);
    lite.pragma(`user_version = ${version}`);
    lite.close();

    // Migrated by a read: the device is there, unqualified until its host scans it again,
    // listed as before (no host known).
    const listed = ok(hashall(['devices', '--catalog', db, '--json'], { env: NAS1 }));
    const devs = listed.json<{ devices: DeviceJson[] }>().devices;
    expect(devs.map((d) => [d.id, d.identity, d.host, d.mounts])).toEqual([
      [before.id, bare, null, []],
    ]);
    expect(ok(hashall(['devices', '--catalog', db], { env: NAS1 })).stdout).toMatch(
      new RegExp(`\\s${mnt}\\s`),
    );
    // Planning names it by its mount point before any rescan (the bare identity is found).
    ok(
      hashall(['conductor', 'analyze', '--device', mnt, '--catalog', db, '--json'], { env: NAS1 }),
    );

    // The next scan on this host adopts it: same id, qualified identity, no file new.
    const scan = ok(hashall(['scan', mnt, '--catalog', db, '--json'], { env: NAS1 }));
    expect(scan.json<{ new: number; unchanged: number }>()).toMatchObject({
      new: 0,
      unchanged: 3,
    });
    const after = ok(hashall(['devices', '--catalog', db, '--json'], { env: NAS1 })).json<{
      devices: DeviceJson[];
    }>().devices;
    expect(after.map((d) => [d.id, d.identity, d.host])).toEqual([
      [before.id, `${bare}@n1`, 'nas1'],
    ]);
    const hosts = ok(hashall(['hosts', '--catalog', db, '--json'], { env: NAS1 })).json<{
      hosts: { hostname: string; devices: { device_id: number; mount_point: string }[] }[];
    }>().hosts;
    expect(
      hosts.map((h) => [h.hostname, h.devices.map((d) => [d.device_id, d.mount_point])]),
    ).toEqual([['nas1', [[before.id, mnt]]]]);
  });

  it('names devices host:mountpoint once the catalog knows two hosts, and plainly with one', (ctx) => {
    requireMounts(ctx);
    const sub = join(dir, 'naming');
    const pool = join(sub, 'pool');
    const tank = join(sub, 'tank');
    const db = join(sub, 'c.db');
    mkdirSync(sub);
    mountTmpfs(pool, 8);
    mountTmpfs(tank, 8);
    writeTree(pool, { 'a.bin': 'x' });
    writeTree(tank, { 'b.bin': 'y' });
    ok(hashall(['scan', pool, '--catalog', db], { env: NAS1 }));
    // One host: the output of a single machine, unchanged.
    const single = ok(hashall(['devices', '--catalog', db], { env: NAS1 })).stdout;
    expect(single).toMatch(new RegExp(`\\s${pool}\\s`));
    expect(single).not.toContain('nas1:');
    // Seen from a machine that never scanned: the device is mounted only on nas1.
    expect(ok(hashall(['devices', '--catalog', db], { env: BACKUP2 })).stdout).toContain(
      `nas1:${pool}`,
    );

    ok(hashall(['scan', tank, '--catalog', db], { env: BACKUP2 }));
    const two = ok(hashall(['devices', '--catalog', db], { env: BACKUP2 })).stdout;
    expect(two).toContain(`nas1:${pool}`);
    expect(two).toContain(`backup2:${tank}`);
    const json = ok(hashall(['devices', '--catalog', db, '--json'], { env: BACKUP2 })).json<{
      devices: DeviceJson[];
    }>().devices;
    expect(json.map((d) => [d.mount_point, d.host, d.mounts.map((m) => m.host)])).toEqual([
      [pool, 'nas1', ['nas1']],
      [tank, 'backup2', ['backup2']],
    ]);
    const status = ok(hashall(['conductor', 'status', '--catalog', db], { env: BACKUP2 })).stdout;
    expect(status).toContain(`  nas1:${pool}  (pool, tmpfs)`);
    expect(status).toContain(`  backup2:${tank}  (tank, tmpfs)`);
    const show = ok(hashall(['devices', 'show', 'pool', '--catalog', db], { env: BACKUP2 }));
    expect(show.stdout).toContain(`  Mounted on:   nas1:${pool}\n`);
    const hosts = ok(hashall(['hosts', '--catalog', db], { env: BACKUP2 })).stdout;
    expect(hosts).toMatch(new RegExp(`\\nnas1:${pool}\\s+pool\\s+tmpfs\\s+dev:\\d+:\\d+@n1\\s`));
    expect(hosts).toMatch(new RegExp(`\\nbackup2:${tank}\\s+tank\\s+tmpfs\\s+dev:\\d+:\\d+@b2\\s`));
  });

  it('execute refuses a plan on a device another host mounts, naming the host, and changes nothing', (ctx) => {
    requireMounts(ctx);
    const sub = join(dir, 'exec');
    const pool = join(sub, 'pool');
    const db = join(sub, 'c.db');
    mkdirSync(sub);
    mountTmpfs(pool, 8);
    writeTree(pool, { 'a.bin': 'same content', 'b.bin': 'same content' });
    ok(hashall(['scan', pool, '--catalog', db], { env: NAS1 }));
    ok(hashall(['conductor', 'plan', 'p', '--device', pool, '--catalog', db], { env: NAS1 }));
    const inodes = () => [inodeOf(join(pool, 'a.bin')), inodeOf(join(pool, 'b.bin'))];
    const before = inodes();
    expect(before[0]).not.toBe(before[1]);

    for (const dry of [[], ['--dry-run']]) {
      const r = hashall(['conductor', 'execute', '1', '--force', ...dry, '--catalog', db], {
        env: BACKUP2,
      });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(
        `hashall: error: plan 1 acts on devices this host (backup2) cannot link: pool is mounted on nas1 (nas1:${pool}), not on this host: run it on nas1; nothing was done`,
      );
    }
    expect(inodes()).toEqual(before);
    const plans = ok(hashall(['conductor', 'plans', '--catalog', db, '--json'], { env: NAS1 }));
    expect(JSON.stringify(plans.json())).toContain('"pending"');

    // On the host that mounts it, the plan runs.
    ok(hashall(['conductor', 'execute', '1', '--force', '--catalog', db], { env: NAS1 }));
    const [a, b] = inodes();
    expect(a).toBe(b);
  });
  it('execute refuses a plan on a network filesystem, even on the host that mounts it', (ctx) => {
    requireMounts(ctx);
    const sub = join(dir, 'net');
    const media = join(sub, 'media');
    const db = join(sub, 'c.db');
    mkdirSync(sub);
    mountTmpfs(media, 8);
    writeTree(media, { 'a.bin': 'same content', 'b.bin': 'same content' });
    ok(hashall(['scan', media, '--catalog', db], { env: NAS1 }));
    ok(hashall(['conductor', 'plan', 'p', '--catalog', db], { env: NAS1 }));
    // No NFS server here: the device is given the identity a scan of an NFS mount records.
    const lite = new Database(db);
    lite.prepare(`UPDATE devices SET identity = 'net:nas9:/export/media', fs_type = 'nfs4'`).run();
    lite.close();
    const before = [inodeOf(join(media, 'a.bin')), inodeOf(join(media, 'b.bin'))];
    const r = hashall(['conductor', 'execute', '1', '--force', '--catalog', db], { env: NAS1 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'hashall: error: plan 1 acts on devices this host (nas1) cannot link: media is a network filesystem (nfs4 nas9:/export/media): link on the server that has its disks; nothing was done',
    );
    expect([inodeOf(join(media, 'a.bin')), inodeOf(join(media, 'b.bin'))]).toEqual(before);
  });
});
