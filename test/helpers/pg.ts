/**
 * A throwaway PostgreSQL cluster for one test file: initdb into a temp dir, listening only on a
 * Unix socket in that dir (no TCP) under a random port number, started with pg_ctl and torn
 * down after. No mocks: the tests talk to a real server.
 *
 * Binaries come from HASHALL_PG_BINDIR, else /usr/lib/postgresql/<newest>/bin (Debian's
 * layout), else PATH. When they are
 * absent the tests skip with the reason, unless HASHALL_REQUIRE_PG=1 (CI), where that fails.
 * initdb and the server refuse to run as root: as root they run as the `postgres` user (or
 * `nobody`) through setpriv, with the cluster's directory handed to that user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The superuser the harness creates; it logs in over the socket without a password. */
export const PG_SUPERUSER = 'hashall_super';

export interface PgCluster {
  /** The directory holding the data directory, the socket and the log. */
  readonly dir: string;
  /** The Unix-socket directory (the libpq `host`). */
  readonly socketDir: string;
  readonly port: number;
  /** A URL for `user` (default the superuser) on `database`; no password in it unless given. */
  url(database: string, who?: { user: string; password?: string }): string;
  /** Run SQL as the superuser on `database` (default `postgres`). */
  admin<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<pg.QueryResult<T>>;
  /** A superuser connection to `database`, for a test to hold locks with; end() it. */
  connect(database: string): Promise<pg.Client>;
  /** A fresh, empty database (owned by `owner` if given); returns its name. */
  createDatabase(owner?: string): Promise<string>;
  /** A role that logs in with a password (scram-sha-256 over the socket). */
  createRole(name: string, password: string): Promise<void>;
  /** pg_ctl stop (fast) and start again: a server restart, same data. */
  restart(): void;
  stop(): void;
}

/** Where initdb, pg_ctl and postgres are, or undefined. */
export function pgBinDir(): string | undefined {
  // HASHALL_PG_BINDIR picks one (a version among several; a missing dir shows the skip path).
  const chosen = process.env.HASHALL_PG_BINDIR;
  if (chosen) return existsSync(join(chosen, 'initdb')) ? chosen : undefined;
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  const r = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const initdb = r.status === 0 ? r.stdout.trim() : '';
  if (!initdb) return undefined;
  const dir = initdb.slice(0, initdb.lastIndexOf('/'));
  return existsSync(join(dir, 'pg_ctl')) ? dir : undefined;
}

/** Why no cluster can be started here, or undefined when one can. */
export function pgUnavailableReason(): string | undefined {
  if (!pgBinDir()) {
    return 'PostgreSQL server binaries (initdb, pg_ctl) are not installed (Debian: apt-get install postgresql)';
  }
  if (process.getuid?.() === 0 && !runAsUser()) {
    return 'running as root and neither a `postgres` nor a `nobody` user exists to run the server';
  }
  return undefined;
}

/**
 * Skip the calling test file's tests with the reason when PostgreSQL is missing, unless CI
 * requires it (HASHALL_REQUIRE_PG=1), where that is a failure.
 */
export function requirePg(ctx: { skip: (note?: string) => void }): void {
  const reason = pgUnavailableReason();
  if (!reason) return;
  if (process.env.HASHALL_REQUIRE_PG === '1') throw new Error(`PostgreSQL is required: ${reason}`);
  console.warn(`skipping: ${reason}`);
  ctx.skip(reason);
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

function runAsUser(): RunAs | undefined {
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  return undefined;
}

const running = new Set<PgCluster>();
// A test file that dies without its afterAll must not leave a server behind.
process.once('exit', () => {
  for (const c of running) c.stop();
});

/**
 * How the cluster listens: only its Unix socket (the default), or also TLS over the loopback
 * interface (`localhost`) with a certificate for `localhost` signed by a CA of its own
 * (`tlsCa` gives the CA's file; plain TCP rejected), or also plain TCP on loopback without
 * TLS (ssl off), for the sslmode tests.
 */
export type PgListen =
  | { readonly kind: 'socket' }
  | { readonly kind: 'socket-and-tls' }
  | { readonly kind: 'socket-and-plain-tcp' };

/** Start a cluster; call `stop()` in afterAll. Throws when pgUnavailableReason() says why. */
export async function startPgCluster(
  listen: PgListen = { kind: 'socket' },
): Promise<PgCluster & { readonly tlsCa?: string; readonly log: string }> {
  const bin = pgBinDir();
  if (!bin) throw new Error(pgUnavailableReason());
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? runAsUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hashall-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o700);
  }
  // Run a server binary as the cluster's owner (setpriv when we are root).
  const run = (cmd: string, args: string[]): string => {
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
    try {
      return execFileSync(argv[0]!, argv.slice(1), {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C', PGTZ: 'UTC' },
        cwd: dir,
      });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    }
  };
  run('initdb', [
    '-D',
    data,
    '-U',
    PG_SUPERUSER,
    '--auth-local=trust',
    '--auth-host=reject',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  // Only the superuser logs in without a password; every other role needs one. TCP only
  // with TLS, and only when asked for.
  const hba = [`local all ${PG_SUPERUSER} trust`, 'local all all scram-sha-256'];
  const tlsConf: string[] = [];
  let tlsCa: string | undefined;
  if (listen.kind === 'socket-and-tls') {
    tlsCa = makeCertificates(dir, owner);
    hba.push(
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      'hostssl all all ::1/128 scram-sha-256',
      'hostnossl all all 127.0.0.1/32 reject',
      'hostnossl all all ::1/128 reject',
    );
    tlsConf.push(
      'ssl = on',
      `ssl_cert_file = '${join(dir, 'server.crt')}'`,
      `ssl_key_file = '${join(dir, 'server.key')}'`,
      'log_connections = on',
    );
  }
  if (listen.kind === 'socket-and-plain-tcp') {
    hba.push('host all all 127.0.0.1/32 scram-sha-256', 'host all all ::1/128 scram-sha-256');
  }
  writeFileSync(join(data, 'pg_hba.conf'), hba.join('\n') + '\n');
  const port = 20000 + Math.floor(Math.random() * 40000);
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `listen_addresses = '${listen.kind === 'socket' ? '' : 'localhost'}'`,
      ...tlsConf,
      `unix_socket_directories = '${dir}'`,
      `port = ${port}`,
      // A throwaway cluster on a small shared machine: no durability, little memory.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'shared_buffers = 32MB',
      'max_connections = 40',
      `password_encryption = 'scram-sha-256'`,
      '',
    ].join('\n'),
  );
  const start = () => run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', 'start']);
  start();
  let stopped = false;
  const superClient = async (database: string): Promise<pg.Client> => {
    const c = new pg.Client({ host: dir, port, user: PG_SUPERUSER, database });
    await c.connect();
    return c;
  };
  let dbCount = 0;
  const cluster: PgCluster & { tlsCa?: string; log: string } = {
    ...(tlsCa ? { tlsCa } : {}),
    log,
    dir,
    socketDir: dir,
    port,
    url(database, who = { user: PG_SUPERUSER }) {
      const cred = who.password
        ? `${encodeURIComponent(who.user)}:${encodeURIComponent(who.password)}`
        : encodeURIComponent(who.user);
      return `postgresql://${cred}@/${database}?host=${encodeURIComponent(dir)}&port=${port}`;
    },
    connect: superClient,
    async admin(sql, params, database = 'postgres') {
      const c = await superClient(database);
      try {
        return await c.query(sql, params);
      } finally {
        await c.end();
      }
    },
    async createDatabase(ownerRole) {
      const name = `t${process.pid}_${++dbCount}`;
      await cluster.admin(
        `CREATE DATABASE ${name}${ownerRole ? ` OWNER ${pg.escapeIdentifier(ownerRole)}` : ''}`,
      );
      return name;
    },
    async createRole(name, password) {
      await cluster.admin(
        `CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`,
      );
    },
    restart() {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      start();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      running.delete(cluster);
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // not running
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(cluster);
  return cluster;
}

/** A CA and a server certificate for `localhost` signed by it (openssl), in `dir`. */
function makeCertificates(dir: string, owner: RunAs | undefined): string {
  const ssl = (args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  ssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=hashall test CA',
    ].concat(['-keyout', 'ca.key', '-out', 'ca.crt']),
  );
  ssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      'server.key',
    ].concat(['-out', 'server.csr']),
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  ssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
    ].concat(['-days', '2', '-extfile', 'san.ext', '-out', 'server.crt']),
  );
  chmodSync(join(dir, 'server.key'), 0o600);
  if (owner) chownSync(join(dir, 'server.key'), owner.uid, owner.gid);
  return join(dir, 'ca.crt');
}

/** The OS user name tests run as (the default PostgreSQL user name). */
export function osUser(): string {
  return userInfo().username;
}
