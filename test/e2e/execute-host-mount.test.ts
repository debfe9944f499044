/**
 * Linking stays local (README "Several hosts"): execute acts on a device where THIS host mounts
 * it, as this host's own scan recorded it (device_mounts), never where another host saw it
 * last (the devices row). One filesystem identity (two copies of one ext4 image: same UUID, the
 * same inodes) is mounted by nas1 at one path and by backup2 at another, each through its own
 * loop device (so each host numbers it differently). backup2 scans last; nas1 executes.
 *
 * - Hosts in their own mount and UTS namespaces (`unshare --mount --uts`): nas1 does not see
 *   backup2's mount at all; its plan must still run, on its own mount.
 * - Both mounts visible to one process (two identities, HASHALL_HOST_ID): nas1's execute must
 *   link nas1's copy and leave backup2's alone, and so must its undo.
 * On both catalog backends.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hashall, type CliResult } from '../helpers/cli.js';
import { inodeOf, removeTree, tempDir, writeTree } from '../helpers/fs.js';
import {
  attachLoop,
  makeImage,
  mountDevice,
  mountUnavailableReason,
  requireMounts,
  unmount,
  unmountAll,
} from '../helpers/mounts.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';

const NAS1 = { HASHALL_HOST_ID: 'n1', HASHALL_HOSTNAME: 'nas1' };
const BACKUP2 = { HASHALL_HOST_ID: 'b2', HASHALL_HOSTNAME: 'backup2' };
const FILES = { 'a.bin': 'same bytes', 'b.bin': 'same bytes', 'c.bin': 'other bytes' };

function unshareReason(): string | undefined {
  return (
    mountUnavailableReason() ??
    (spawnSync('unshare', ['--mount', '--uts', 'true']).status === 0
      ? undefined
      : 'unshare --mount --uts is not permitted here')
  );
}

/** The environment of a CLI run: the host, and no PG* variable of the machine. */
function hostEnv(host: Record<string, string>, catalog: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && v) env[k] = v;
  return { ...env, ...host, HASHALL_CATALOG: catalog, PGPASSFILE: '/nonexistent/pgpass' };
}

/** A host's session: its own mount and UTS namespaces, `dev` mounted at `dir`, then `steps`. */
function onHost(
  host: Record<string, string>,
  catalog: string,
  mount: { dev: string; dir: string },
  steps: string,
): CliResult {
  const script = [
    'set -e',
    'hostname "$HASHALL_HOSTNAME"',
    'mount "$DEV" "$DIR"',
    // The namespace goes with the shell, and its mount with it.
    steps,
  ].join('\n');
  const r = spawnSync('unshare', ['--mount', '--uts', 'sh', '-c', script], {
    encoding: 'utf8',
    env: {
      ...hostEnv(host, catalog),
      DEV: mount.dev,
      DIR: mount.dir,
      H: `${process.execPath} ${CLI}`,
    },
    timeout: 120_000,
  });
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    json: <T>() => JSON.parse(r.stdout) as T,
  };
}

function ok(r: CliResult): CliResult {
  expect([r.code, r.stderr, r.code === 0 ? '' : r.stdout]).toEqual([0, '', '']);
  return r;
}

interface Backend {
  readonly name: string;
  readonly unavailable: string | undefined;
  catalog(sub: string): Promise<string>;
}

let cluster: PgCluster | undefined;
const PG_MISSING = pgUnavailableReason();
if (PG_MISSING && process.env.HASHALL_REQUIRE_PG === '1')
  throw new Error(`PostgreSQL is required (HASHALL_REQUIRE_PG=1): ${PG_MISSING}`);

const backends: Backend[] = [
  { name: 'sqlite', unavailable: undefined, catalog: (sub) => Promise.resolve(join(sub, 'c.db')) },
  {
    name: 'postgresql',
    unavailable: PG_MISSING,
    async catalog() {
      cluster ??= await startPgCluster();
      return cluster.url(await cluster.createDatabase());
    },
  },
];

let dir: string;

beforeAll(() => {
  dir = realpathSync(tempDir('hashall-exec-host-mount-'));
});
afterAll(() => {
  unmountAll();
  cluster?.stop();
  removeTree(dir);
});

/**
 * Two copies of one ext4 filesystem (same UUID, same inodes), each on its own loop device: one
 * filesystem identity that the two hosts number differently.
 */
function twoCopies(sub: string): { nasDev: string; backupDev: string } {
  const img1 = join(sub, 'nas1.img');
  const img2 = join(sub, 'backup2.img');
  const fill = join(sub, 'fill');
  makeImage(img1, 'ext4', 16);
  const nasDev = attachLoop(img1);
  mountDevice(nasDev, fill);
  writeTree(fill, FILES);
  unmount(fill);
  copyFileSync(img1, img2);
  return { nasDev, backupDev: attachLoop(img2) };
}

/** a.bin and b.bin of the filesystem on `dev`, as inode numbers (mounted here to look). */
function inodesOn(dev: string, at: string): bigint[] {
  mountDevice(dev, at);
  try {
    return [inodeOf(join(at, 'a.bin')), inodeOf(join(at, 'b.bin'))];
  } finally {
    unmount(at);
  }
}

describe.each(backends)('execute acts where this host mounts the device ($name)', (backend) => {
  it('hosts in their own namespaces: nas1 executes on its own mount after backup2 scanned the same filesystem elsewhere', async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    const why = unshareReason();
    if (why) {
      requireMounts(ctx);
      if (process.env.HASHALL_REQUIRE_MOUNTS === '1') throw new Error(why);
      ctx.skip(why);
    }
    const sub = join(dir, `ns-${backend.name}`);
    mkdirSync(sub);
    const catalog = await backend.catalog(sub);
    const { nasDev, backupDev } = twoCopies(sub);
    const pool = join(sub, 'pool');
    const tank = join(sub, 'tank');
    mkdirSync(pool);
    mkdirSync(tank);

    ok(
      onHost(
        NAS1,
        catalog,
        { dev: nasDev, dir: pool },
        '$H scan "$DIR" -q\n$H conductor plan p -q',
      ),
    );
    // backup2 sees the same filesystem (its UUID) at another path: one device, two mounts.
    ok(onHost(BACKUP2, catalog, { dev: backupDev, dir: tank }, '$H scan "$DIR" -q'));
    const devices = ok(hashall(['devices', '--json'], { env: hostEnv(NAS1, catalog) })).json<{
      devices: { mount_point: string; mounts: { host: string; mount_point: string }[] }[];
    }>().devices;
    expect(devices).toHaveLength(1);
    // The device row is where a host saw it last: backup2's tank.
    expect(devices[0]!.mount_point).toBe(tank);
    expect(devices[0]!.mounts.map((m) => [m.host, m.mount_point]).sort()).toEqual([
      ['backup2', tank],
      ['nas1', pool],
    ]);

    const run = ok(
      onHost(NAS1, catalog, { dev: nasDev, dir: pool }, '$H conductor execute 1 --force --json'),
    );
    expect(run.json<{ executed: number; failed: number }>()).toMatchObject({
      executed: 1,
      failed: 0,
    });
    const [a, b] = inodesOn(nasDev, join(sub, 'look'));
    expect(a).toBe(b);
    const [x, y] = inodesOn(backupDev, join(sub, 'look'));
    expect(x).not.toBe(y);
  });

  it("both mounts visible: nas1's execute and undo act on nas1's copy, never backup2's", async (ctx) => {
    if (backend.unavailable) ctx.skip(backend.unavailable);
    requireMounts(ctx);
    const sub = join(dir, `one-${backend.name}`);
    mkdirSync(sub);
    const catalog = await backend.catalog(sub);
    const { nasDev, backupDev } = twoCopies(sub);
    const pool = join(sub, 'pool');
    const tank = join(sub, 'tank');
    mountDevice(nasDev, pool);
    mountDevice(backupDev, tank);
    const nas1 = { env: hostEnv(NAS1, catalog) };
    ok(hashall(['scan', pool, '-q'], nas1));
    ok(hashall(['conductor', 'plan', 'p', '-q'], nas1));
    ok(hashall(['scan', tank, '-q'], { env: hostEnv(BACKUP2, catalog) }));
    const before = [inodeOf(join(tank, 'a.bin')), inodeOf(join(tank, 'b.bin'))];

    const run = ok(hashall(['conductor', 'execute', '1', '--force', '--json'], nas1));
    expect(run.json<{ executed: number; failed: number }>()).toMatchObject({
      executed: 1,
      failed: 0,
    });
    expect(inodeOf(join(pool, 'a.bin'))).toBe(inodeOf(join(pool, 'b.bin')));
    expect([inodeOf(join(tank, 'a.bin')), inodeOf(join(tank, 'b.bin'))]).toEqual(before);
    expect(before[0]).not.toBe(before[1]);

    // Undo, too, acts on nas1's copy: its two paths get their own inodes again.
    const undo = ok(hashall(['conductor', 'undo', '1', '--force', '--json'], nas1));
    expect(undo.json<{ restored: number; failed: number }>()).toMatchObject({
      restored: 1,
      failed: 0,
    });
    expect(inodeOf(join(pool, 'a.bin'))).not.toBe(inodeOf(join(pool, 'b.bin')));
    expect([inodeOf(join(tank, 'a.bin')), inodeOf(join(tank, 'b.bin'))]).toEqual(before);
    unmount(pool);
    unmount(tank);
  });
});
