/**
 * A killed execute's journal names paths on its host's filesystem. Several hosts mount their own
 * disks at one path: the same path on another host is another filesystem, so only the host
 * that mounts the device may recover its rows. Two simulated hosts (a mount namespace each,
 * `unshare --mount`, with their own tmpfs bound at the same path and their own identity), one
 * catalog (PostgreSQL, and a SQLite file both reach): nas1's execute is killed between its link
 * and its rename; backup2's scan leaves nas1's rows alone; nas1's own scan recovers them.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';
import { mountTmpfs, mountUnavailableReason, unmountAll } from '../helpers/mounts.js';
import { pgUnavailableReason, startPgCluster, type PgCluster } from '../helpers/pg.js';

const NS =
  mountUnavailableReason() ??
  (spawnSync('unshare', ['--mount', 'true']).status === 0
    ? undefined
    : 'unshare --mount is not permitted here');
if (NS && process.env.HASHALL_REQUIRE_MOUNTS === '1')
  throw new Error(`simulated hosts are required: ${NS}`);
if (NS) console.warn(`skipping the simulated hosts: ${NS}`);
const PG = NS ?? pgUnavailableReason();
if (PG && !NS && process.env.HASHALL_REQUIRE_PG === '1')
  throw new Error(`PostgreSQL is required: ${PG}`);

interface HostRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
}

/**
 * One command of a host: in a mount namespace of its own, `fs` bound at `data` (the path every
 * host uses), with the host's identity and the catalog; `args` is hashall's command line.
 */
function onHost(
  h: { readonly id: string; readonly name: string; readonly fs: string },
  ctx: { readonly catalog: string; readonly data: string; readonly all: readonly string[] },
  args: readonly string[],
  env: Record<string, string> = {},
): HostRun {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && v) clean[k] = v;
  const r = spawnSync(
    'unshare',
    [
      '--mount',
      'sh',
      '-c',
      // The host's disk at the path every host uses, and no other host's disk anywhere (the
      // namespace starts as a copy of this one's mounts, where every host's tmpfs is).
      'mount --bind "$FS" "$DATA" && for m in $ALL; do umount -l "$m"; done && exec "$NODE" "$CLI" "$@"',
      'host',
      ...args,
    ],
    {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...clean,
        HASHALL_HOST_ID: h.id,
        HASHALL_HOSTNAME: h.name,
        HASHALL_CATALOG: ctx.catalog,
        FS: h.fs,
        ALL: ctx.all.join(' '),
        DATA: ctx.data,
        NODE: process.execPath,
        CLI,
        ...env,
      },
    },
  );
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

const temps = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.hashall-tmp-'));

describe.skipIf(NS)('a killed execute is recovered by its own host only', () => {
  let dir: string;
  let cluster: PgCluster | undefined;

  beforeAll(async () => {
    dir = realpathSync(tempDir('hashall-hosts-recovery-'));
    if (!PG) cluster = await startPgCluster();
  }, 120_000);
  afterAll(() => {
    cluster?.stop();
    unmountAll();
    if (dir) removeTree(dir);
  });

  const backends: readonly { name: 'PostgreSQL' | 'SQLite'; skip: string | undefined }[] = [
    { name: 'PostgreSQL', skip: PG },
    { name: 'SQLite', skip: undefined },
  ];

  for (const b of backends)
    it(`${b.name} catalog`, async (ctx) => {
      if (b.skip) return ctx.skip(b.skip);
      const base = join(dir, b.name);
      const data = join(base, 'data');
      mkdirSync(data, { recursive: true });
      const catalog =
        b.name === 'SQLite' ? join(base, 'c.db') : cluster!.url(await cluster!.createDatabase());
      // Two filesystems, the same files written in the same order: the same names, likely the
      // same inode numbers, on both.
      const nas1 = { id: 'n1', name: 'nas1', fs: join(base, 'fs-nas1') };
      const backup2 = { id: 'b2', name: 'backup2', fs: join(base, 'fs-backup2') };
      const ctxOf = { catalog, data, all: [nas1.fs, backup2.fs] };
      for (const h of [nas1, backup2]) {
        mountTmpfs(h.fs, 8);
        writeTree(h.fs, {
          'dup/a.bin': Buffer.alloc(20_000, 'x'),
          'dup/b.bin': Buffer.alloc(20_000, 'x'),
        });
      }
      for (const h of [nas1, backup2]) {
        const s = onHost(h, ctxOf, ['scan', data, '-q']);
        expect(s.code, s.err).toBe(0);
      }
      const plan = onHost(nas1, ctxOf, ['conductor', 'plan', 'p', '--device', data, '--json']);
      expect(plan.code, plan.err).toBe(0);
      const id = (JSON.parse(plan.out) as { id: number }).id;

      // nas1's execute dies between its temporary link and the rename over the target.
      const killed = onHost(nas1, ctxOf, ['conductor', 'execute', String(id), '--force'], {
        HASHALL_FAILPOINT: 'before-rename',
      });
      expect(killed.signal, killed.err).toBe('SIGKILL');
      expect(temps(join(nas1.fs, 'dup'))).toHaveLength(1);

      // backup2 scans the same path (its own filesystem): nas1's rows are not its to recover.
      const other = onHost(backup2, ctxOf, ['scan', data, '--json']);
      expect(other.code, other.err).toBe(0);
      expect(other.err).toBe('');
      expect(temps(join(nas1.fs, 'dup'))).toHaveLength(1);

      // nas1 scans: it recovers its own rows (the link removed, the action pending again).
      const own = onHost(nas1, ctxOf, ['scan', data, '--json']);
      expect(own.code, own.err).toBe(0);
      expect(own.err).toMatch(
        /Recovered an interrupted execute: 0 actions completed, 1 rolled back, 1 temporary link removed/,
      );
      expect(temps(join(nas1.fs, 'dup'))).toEqual([]);
      // And executes the plan to the end.
      const again = onHost(nas1, ctxOf, ['conductor', 'execute', String(id), '--force', '--json']);
      expect(again.code, again.err).toBe(0);
      expect(JSON.parse(again.out)).toMatchObject({ executed: 1, failed: 0 });
    }, 240_000);
});
