/**
 * The executor lock per device, between real processes. SQLite: two filesystems in one
 * catalog; a live process holds one of them, and an execute of a plan on the other proceeds
 * while one on the held filesystem is refused naming the holder. PostgreSQL: a child process
 * holds a device through the built port; another device is free meanwhile, the held one is
 * refused naming the child, and once the child is SIGKILLed its device is taken over (its
 * advisory lock died with its connection).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LockAcquisition, LockHolder } from '../../src/catalog/execute-port.js';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { pgExecuteOps } from '../../src/catalog/pg/execute.js';
import { migratePg } from '../../src/catalog/pg/migrate.js';
import { processStartTime } from '../../src/fs/process.js';
import { hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { mountTmpfs, requireMounts, unmountAll } from '../helpers/mounts.js';
import { requirePg, startPgCluster, type PgCluster } from '../helpers/pg.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('hashall-lock-');
});
afterAll(() => {
  unmountAll();
  removeTree(dir);
});

const pair = (label: string) => {
  const content = Buffer.from(`${label} `.repeat(400));
  return { [`a/${label}.bin`]: content, [`b/${label}.bin`]: content };
};

describe('SQLite: one catalog, two filesystems', () => {
  it('an execute on a free filesystem proceeds while another process holds the other, which is refused naming it', (ctx) => {
    requireMounts(ctx);
    const cat = join(dir, 'c.db');
    const [one, two] = [join(dir, 'one'), join(dir, 'two')];
    mountTmpfs(one, 8);
    mountTmpfs(two, 8);
    writeTree(one, pair('one'));
    writeTree(two, pair('two'));
    for (const t of [one, two]) expect(hashall(['scan', t, '--catalog', cat, '-q']).code).toBe(0);
    const plan = (t: string) =>
      hashall(['conductor', 'plan', 'p', '--device', t, '--catalog', cat, '--json']).json<{
        id: number;
      }>().id;
    const [p1, p2] = [plan(one), plan(two)];
    // This test process is a live executor of filesystem one.
    const db = new Database(cat);
    const dev = (
      db.prepare('SELECT device_id AS d FROM conductor_actions WHERE plan_id = ?').get(p1) as {
        d: number;
      }
    ).d;
    db.prepare(
      `INSERT INTO executor_device_lock (device_id, pid, start_time, hostname, plan_id, acquired_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(dev, process.pid, processStartTime(process.pid), hostname(), p1, Date.UTC(2026, 0, 2));
    db.close();

    const free = hashall([
      'conductor',
      'execute',
      String(p2),
      '--force',
      '--catalog',
      cat,
      '--json',
    ]);
    expect(free.stderr).toBe('');
    expect(free.code).toBe(0);
    expect(free.json<{ executed: number }>().executed).toBe(1);

    const held = hashall(['conductor', 'execute', String(p1), '--force', '--catalog', cat]);
    expect(held.code).toBe(2);
    expect(held.stderr.trim()).toBe(
      `hashall: error: another hashall execute holds this device: device ${dev} is being executed by pid ${process.pid} on host ${hostname()} since 2026-01-02T00:00:00.000Z, plan ${p1}; wait for it to finish`,
    );
  });
});

/** A child process holding `device` through the built PostgreSQL port until it is killed. */
function holdInChild(
  url: string,
  device: number,
): Promise<{ child: ChildProcessWithoutNullStreams; holder: LockHolder }> {
  const dist = (p: string) => pathToFileURL(join(process.cwd(), 'dist', p)).href;
  const script = `
    import { hostname } from 'node:os';
    const { connectPg } = await import(${JSON.stringify(dist('catalog/pg/connect.js'))});
    const { pgExecuteOps } = await import(${JSON.stringify(dist('catalog/pg/execute.js'))});
    const conn = await connectPg(process.env.URL);
    const holder = { pid: process.pid, startTime: 'child', hostname: hostname(), planId: 1, acquiredAt: 5000 };
    const r = await pgExecuteOps(conn.client).executorLock.acquire({ holder, devices: [${device}], alive: () => true });
    process.stdout.write(JSON.stringify({ r, holder }) + '\\n');
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, URL: url },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stderr.on('data', (d: Buffer) => reject(new Error(d.toString())));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      const { r, holder } = JSON.parse(out) as { r: LockAcquisition; holder: LockHolder };
      if (r.kind !== 'acquired') reject(new Error(`the child was refused: ${out}`));
      else resolve({ child, holder });
    });
  });
}

describe('PostgreSQL: a device held by another process', () => {
  let cluster: PgCluster | undefined;
  afterAll(() => cluster?.stop());

  it('another device proceeds, the held one is refused naming the holder, and a killed holder is taken over', async (ctx) => {
    requirePg(ctx);
    cluster = await startPgCluster();
    const url = cluster.url(await cluster.createDatabase());
    const conn = await connectPg(url);
    try {
      await migratePg(conn);
      const lock = pgExecuteOps(conn.client).executorLock;
      const { child, holder } = await holdInChild(url, 11);
      const me = {
        pid: process.pid,
        startTime: 'me',
        hostname: hostname(),
        planId: 2,
        acquiredAt: 1,
      };
      const everyoneAlive = () => true;
      expect(await lock.acquire({ holder: me, devices: [12], alive: everyoneAlive })).toEqual({
        kind: 'acquired',
        replaced: [],
      });
      expect(await lock.acquire({ holder: me, devices: [11], alive: everyoneAlive })).toEqual({
        kind: 'held',
        lock: { deviceId: 11, holder },
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      // The server ends the dead connection's session when it sees the socket close: poll for
      // that (bounded), then the device is ours and its stale row is named.
      let r: LockAcquisition = { kind: 'held', lock: { deviceId: 11, holder } };
      for (let i = 0; i < 200 && r.kind === 'held'; i++) {
        r = await lock.acquire({ holder: me, devices: [11], alive: everyoneAlive });
        if (r.kind === 'held') await new Promise((res) => setTimeout(res, 50));
      }
      expect(r).toEqual({ kind: 'acquired', replaced: [{ deviceId: 11, holder }] });
      expect((await lock.holders()).map((l) => [l.deviceId, l.holder.pid])).toEqual([
        [11, process.pid],
        [12, process.pid],
      ]);
    } finally {
      await conn.client.end();
    }
  }, 120_000);
});
