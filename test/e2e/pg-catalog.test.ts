/**
 * The PostgreSQL catalog backend against a real server: a throwaway cluster (test/helpers/pg.ts)
 * on a Unix socket. Connecting (URL, PG* variables, .pgpass, sslmode), the one-line refusals
 * (exit 2) and that a password never shows; the schema (migrations, refusal of a newer catalog,
 * two processes migrating at once, the same tables and columns as SQLite); hosts.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePgTarget } from '../../src/catalog/pg/target.js';
import { hashall, type CliResult } from '../helpers/cli.js';
import { removeTree, tempDir } from '../helpers/fs.js';
import { pgUnavailableReason, requirePg, startPgCluster, type PgCluster } from '../helpers/pg.js';

/** The environment of a CLI run: no PG* variable of the machine leaks in. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('PG')) clean[k] = '';
  return { ...clean, PGPASSFILE: '/nonexistent/pgpass', ...extra };
}

function expectOneLineRefusal(r: CliResult, pattern: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^hashall: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const SECRET = 'Zebra-Secret-7731';

let cluster: PgCluster;
let dir: string;

describe('PostgreSQL catalog', () => {
  beforeAll(async () => {
    dir = tempDir('hashall-pgcat-');
    if (pgUnavailableReason() && process.env.HASHALL_REQUIRE_PG !== '1') return;
    cluster = await startPgCluster();
    await cluster.createRole('alice', SECRET);
  });
  afterAll(() => {
    cluster?.stop();
    removeTree(dir);
  });

  describe('the test cluster', () => {
    it('listens only on a Unix socket in its own directory', async (ctx) => {
      requirePg(ctx);
      const r = await cluster.admin<{ listen_addresses: string }>('SHOW listen_addresses');
      expect(r.rows[0]!.listen_addresses).toBe('');
      const s = await cluster.admin<{ unix_socket_directories: string }>(
        'SHOW unix_socket_directories',
      );
      expect(s.rows[0]!.unix_socket_directories).toBe(cluster.socketDir);
    });
  });

  describe('connecting', () => {
    it('opens a catalog from a URL with ?host= (a socket) and lists no hosts', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      const r = hashall(['hosts', '--catalog', cluster.url(db), '--json'], { env: env() });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const doc = r.json<{ catalog: string; backend: string; hosts: unknown[] }>();
      expect(doc.backend).toBe('postgresql');
      expect(doc.hosts).toEqual([]);
      expect(doc.catalog).toBe(
        `postgresql://hashall_super@/${db}?host=${cluster.socketDir}&port=${cluster.port}`,
      );
    });

    it('takes host, port, user and database from PG* variables (and HASHALL_CATALOG)', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      const pgEnv = env({
        PGHOST: cluster.socketDir,
        PGPORT: String(cluster.port),
        PGUSER: 'hashall_super',
        PGDATABASE: db,
      });
      const r = hashall(['hosts', '--json'], {
        env: { ...pgEnv, HASHALL_CATALOG: 'postgresql://' },
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.json<{ catalog: string }>().catalog).toContain(`@/${db}?host=${cluster.socketDir}`);
      const tables = await cluster.admin(
        `SELECT 1 FROM pg_tables WHERE tablename = 'hosts'`,
        [],
        db,
      );
      expect(tables.rowCount).toBe(1);
    });

    it('ignores sslmode=require on a Unix socket, as libpq does, and refuses an unknown sslmode', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      const ok = hashall(['hosts', '--catalog', `${cluster.url(db)}&sslmode=require`, '--json'], {
        env: env(),
      });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      const viaEnv = hashall(['hosts', '--catalog', cluster.url(db), '--json'], {
        env: env({ PGSSLMODE: 'verify-full' }),
      });
      expect(viaEnv.code).toBe(0);
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', `${cluster.url(db)}&sslmode=sometimes`], { env: env() }),
        /sslmode sometimes is not one of disable, allow, prefer, require, verify-ca, verify-full/,
      );
    });

    it('asks for the server CA for sslmode=verify-full over TCP before connecting', (ctx) => {
      requirePg(ctx);
      const home = join(dir, 'home-no-ca');
      mkdirSync(home, { recursive: true });
      // Nothing is sent: the refusal comes before any connection is tried.
      const r = hashall(
        ['hosts', '--catalog', 'postgresql://alice@127.0.0.1:1/x?sslmode=verify-full'],
        { env: env({ HOME: home }) },
      );
      expectOneLineRefusal(r, /sslmode=verify-full needs the server's CA certificate.*sslrootcert/);
    });

    it('resolves sslmode to TLS options like libpq (prefer tries TLS, then plain)', () => {
      const t = resolvePgTarget('postgresql://me@db.example/cat', { HOME: '/nonexistent' });
      expect(t.sslMode).toBe('prefer');
      expect(t.location).toBe('postgresql://me@db.example/cat');
      const v = resolvePgTarget('postgresql://me@db.example:6432/cat?sslmode=verify-ca', {
        HOME: '/nonexistent',
        PGSSLROOTCERT: '/etc/ssl/ca.pem',
      });
      expect(v.sslMode).toBe('verify-ca');
      expect(v.sslRootCert).toBe('/etc/ssl/ca.pem');
      expect(v.location).toBe('postgresql://me@db.example:6432/cat');
    });

    it('reads the password from .pgpass (mode 600) and ignores a group-readable one', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase('alice');
      const pgpass = join(dir, 'pgpass');
      writeFileSync(
        pgpass,
        [
          '# comment',
          `otherhost:*:*:alice:wrong`,
          `${cluster.socketDir}:${cluster.port}:${db}:alice:${SECRET}`,
          '',
        ].join('\n'),
      );
      chmodSync(pgpass, 0o600);
      const url = cluster.url(db, { user: 'alice' });
      const ok = hashall(['hosts', '--catalog', url, '--json'], {
        env: env({ PGPASSFILE: pgpass }),
      });
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      chmodSync(pgpass, 0o644);
      const ignored = hashall(['hosts', '--catalog', url], { env: env({ PGPASSFILE: pgpass }) });
      expectOneLineRefusal(
        ignored,
        /wants a password for role alice and none was given; .*pgpass was ignored because it is readable by group or others/,
      );
      const none = hashall(['hosts', '--catalog', url], {
        env: env({ PGPASSFILE: join(dir, 'absent') }),
      });
      expectOneLineRefusal(none, /wants a password for role alice and none was given; no line of/);
    });

    it('never shows a password: not in output, JSON or errors, from the URL or PGPASSWORD', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase('alice');
      const good = cluster.url(db, { user: 'alice', password: SECRET });
      const runs = [
        hashall(['hosts', '--catalog', good, '--json'], { env: env() }),
        hashall(['hosts', '--catalog', good], { env: env() }),
        hashall(['hosts', '--catalog', cluster.url(db, { user: 'alice' }), '--json'], {
          env: env({ PGPASSWORD: SECRET }),
        }),
        hashall(
          ['hosts', '--catalog', cluster.url(db, { user: 'alice', password: `${SECRET}x` })],
          {
            env: env(),
          },
        ),
        hashall(['hosts', '--catalog', cluster.url(db, { user: 'alice' }), '--debug'], {
          env: env({ PGPASSWORD: `${SECRET}x` }),
        }),
        hashall(['hosts', '--catalog', `${good}&bogus=1`], { env: env() }),
        hashall(['hosts', '--catalog', `${good}&password=${SECRET}y`, '--json'], { env: env() }),
        hashall(['hosts', '--catalog', good.replace(/port=\d+/, 'port=1'), '--json'], {
          env: env(),
        }),
      ];
      expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 2, 2, 2, 2, 2]);
      for (const r of runs) {
        expect(r.stdout + r.stderr).not.toContain(SECRET);
      }
      expect(runs[0]!.json<{ catalog: string }>().catalog).toMatch(/^postgresql:\/\/alice@\//);
    });
  });

  describe('refusals: one line, exit 2', () => {
    it('connection refused: no server on that socket and port', (ctx) => {
      requirePg(ctx);
      const url = `postgresql://hashall_super@/x?host=${cluster.socketDir}&port=${cluster.port + 1}`;
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', url], { env: env() }),
        /^hashall: error: cannot connect to catalog postgresql:\/\/hashall_super@\/x\?host=.*: nothing listens on the socket .*\.s\.PGSQL\.\d+ \(ENOENT\); start PostgreSQL there/,
      );
    });

    it('connection refused over TCP (loopback, a closed port)', (ctx) => {
      requirePg(ctx);
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', 'postgresql://me@127.0.0.1:1/x?sslmode=disable'], {
          env: env(),
        }),
        /cannot connect to catalog postgresql:\/\/me@127\.0\.0\.1:1\/x: nothing listens on 127\.0\.0\.1 port 1 \(ECONNREFUSED\)/,
      );
    });

    it('wrong password', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase('alice');
      const url = cluster.url(db, { user: 'alice', password: 'not-it' });
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', url], { env: env() }),
        /catalog postgresql:\/\/alice@\/\w+\?host=.*: PostgreSQL refused the password of role alice \(.*\); check the password in the URL or PGPASSWORD/,
      );
    });

    it('unknown database', (ctx) => {
      requirePg(ctx);
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', cluster.url('no_such_db')], { env: env() }),
        /database no_such_db does not exist; create it \(createdb -O hashall_super no_such_db\)/,
      );
    });

    it('a URL that cannot be used', () => {
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', 'postgresql://me:pw@h/db?colour=red'], { env: env() }),
        /catalog URL postgresql:\/\/me:\*\*\*@h\/db\?colour=red is not valid: unknown parameter 'colour'/,
      );
    });
  });
});
