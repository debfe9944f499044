// A throwaway PostgreSQL cluster for the bench, as test/helpers/pg.ts starts one (minus what
// the tests need): initdb in a temp dir, a Unix socket only, run as `postgres` when we are root.

import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';

/** Where the server binaries are, or undefined (the PostgreSQL rows are then skipped). */
export function pgBinDir() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const ver = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => b - a)[0];
  return ver ? join(base, ver, 'bin') : undefined;
}

/**
 * Start a cluster. `durable`: the server's defaults for durability (fsync, synchronous commit:
 * what the bench compares with SQLite, which syncs too); otherwise none, for loading
 * generated rows.
 */
export function startCluster({ durable }) {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) are not installed');
  const dir = mkdtempSync(join(tmpdir(), 'hashall-pg-large-'));
  const data = join(dir, 'data');
  let owner;
  if (process.getuid?.() === 0) {
    const id = (f) => Number(spawnSync('id', [f, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    owner = { uid: id('-u'), gid: id('-g') };
    chownSync(dir, owner.uid, owner.gid);
  }
  const run = (cmd, args) => {
    const argv = owner
      ? [
          'setpriv',
          `--reuid=${owner.uid}`,
          `--regid=${owner.gid}`,
          '--clear-groups',
          join(bin, cmd),
          ...args,
        ]
      : [join(bin, cmd), ...args];
    execFileSync(argv[0], argv.slice(1), {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
  };
  run('initdb', [
    '-D',
    data,
    '-U',
    'bench',
    '--auth-local=trust',
    '--auth-host=reject',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const port = 20000 + Math.floor(Math.random() * 40000);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `listen_addresses = ''`,
      `unix_socket_directories = '${dir}'`,
      `port = ${port}`,
      // Query settings are the defaults (work_mem 4MB) except shared_buffers and
      // maintenance_work_mem (index builds); durability as asked.
      ...(durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
      'shared_buffers = 256MB',
      'maintenance_work_mem = 256MB',
      'max_wal_size = 4GB',
      '',
    ].join('\n'),
  );
  run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  const url = (db) => `postgresql://bench@/${db}?host=${encodeURIComponent(dir)}&port=${port}`;
  const client = (cmd, args) =>
    execFileSync(join(bin, cmd), ['-h', dir, '-p', String(port), '-U', 'bench', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  return {
    url: url('postgres'),
    /** A new, empty database (dropped first if it exists); its URL. */
    freshDatabase(name) {
      client('dropdb', ['--if-exists', name]);
      client('createdb', [name]);
      return url(name);
    },
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
