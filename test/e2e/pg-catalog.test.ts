/**
 * The PostgreSQL catalog backend against a real server: a throwaway cluster (test/helpers/pg.ts)
 * on a Unix socket. Connecting (URL, PG* variables, .pgpass, sslmode), the one-line refusals
 * (exit 2) and that a password never shows; the schema (migrations, refusal of a newer catalog,
 * two processes migrating at once, the same tables and columns as SQLite); hosts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPLICATION_ID } from '../../src/catalog/migrations.js';
import { hostOps } from '../../src/catalog/hosts.js';
import { openCatalog } from '../../src/catalog/open.js';
import { openPgCatalog } from '../../src/catalog/pg/open.js';
import { PG_SCHEMA_VERSION } from '../../src/catalog/pg/schema.js';
import { resolvePgTarget } from '../../src/catalog/pg/target.js';
import { hostIdentity } from '../../src/fs/host.js';
import { CLI, hashall, type CliResult } from '../helpers/cli.js';
import { pgSchema, sqliteSchema } from '../helpers/schema-compare.js';
import { mountUnavailableReason, removeTree, tempDir } from '../helpers/fs.js';
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

    it('every command takes a database URL for PostgreSQL, never for a file name', () => {
      const cwd = join(dir, 'cwd');
      mkdirSync(cwd, { recursive: true });
      for (const args of [
        ['stats', '--catalog', 'postgresql://me:pw@h/db'],
        ['scan', cwd],
      ]) {
        const r = hashall(args, { cwd, env: env({ HASHALL_CATALOG: 'postgres://me:pw@h/db' }) });
        expectOneLineRefusal(
          r,
          // It tried to connect (host h does not resolve here): one line, no password.
          /^hashall: error: cannot connect to catalog postgres(ql)?:\/\/me@h\/db: host h is unknown \(ENOTFOUND\); fix the host name$/,
        );
      }
      expect(readdirSync(cwd)).toEqual([]);
    });

    it('a URL that cannot be used', () => {
      const at = hashall(['hosts', '--catalog', 'postgresql://me:p@ss@h/db?colour=red'], {
        env: env(),
      });
      expectOneLineRefusal(
        at,
        /catalog URL postgresql:\/\/me:\*\*\*@h\/db\?colour=red is not valid/,
      );
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', 'postgresql://me:pw@h/db?colour=red'], { env: env() }),
        /catalog URL postgresql:\/\/me:\*\*\*@h\/db\?colour=red is not valid: unknown parameter 'colour'/,
      );
    });
  });
  describe('the schema', () => {
    it('is created by migrations recorded once each in hashall_schema', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      expect(hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }).code).toBe(0);
      expect(hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }).code).toBe(0);
      const v = await cluster.admin<{ version: string }>(
        'SELECT version FROM hashall_schema ORDER BY version',
        [],
        db,
      );
      expect(v.rows.map((r) => Number(r.version))).toEqual(
        Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1),
      );
    });

    it('has the same tables, columns, keys and indexes as the SQLite catalog', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      expect(hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }).code).toBe(0);
      const file = join(dir, 'compare.db');
      openCatalog(file).db.close();
      const lite = new Database(file, { readonly: true });
      try {
        const expected = sqliteSchema(lite);
        const actual = await pgSchema((sql) => cluster.admin(sql, [], db));
        expect(Object.keys(expected).length).toBeGreaterThan(10);
        expect(expected['hosts']).toBeDefined();
        expect(actual).toEqual(expected);
        // files' references are statement triggers on PostgreSQL (src/catalog/pg/file-references.ts),
        // compared as foreign keys: a check that goes missing is a difference.
        expect(expected['files']!.foreignKeys).toHaveLength(5);
        await cluster.admin('ALTER TABLE files DISABLE TRIGGER files_references_insert', [], db);
        const lost = await pgSchema((sql) => cluster.admin(sql, [], db));
        expect(lost['files']!.foreignKeys).toEqual([]);
        expect(lost).not.toEqual(expected);
      } finally {
        lite.close();
      }
    });

    it('enforces the same CHECK constraints (statuses, the one executor-lock row)', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      expect(hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }).code).toBe(0);
      const bad = [
        `INSERT INTO scans (root, started_at, status) VALUES ('\\x2f', 1, 'bogus')`,
        `INSERT INTO executor_lock (id, pid, start_time, hostname, acquired_at) VALUES (2, 1, 'x', 'h', 1)`,
        `INSERT INTO conductor_plans (name, status, created_at, options, total_opportunities, total_bytes_saveable) VALUES ('p', 'done', 1, '{}', 0, 0)`,
        `INSERT INTO hosts (machine_id, hostname, first_seen_at, last_seen_at) VALUES (NULL, 'h', 1, 1)`,
      ];
      for (const sql of bad) {
        await expect(cluster.admin(sql, [], db)).rejects.toThrow(/violates/);
      }
      await cluster.admin(
        `INSERT INTO executor_lock (id, pid, start_time, hostname, acquired_at) VALUES (1, 1, 'x', 'h', 1)`,
        [],
        db,
      );
    });

    it('refuses a catalog newer than this hashall, in one line', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      expect(hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }).code).toBe(0);
      await cluster.admin(
        'INSERT INTO hashall_schema (version, applied_at) VALUES ($1, 0)',
        [PG_SCHEMA_VERSION + 1],
        db,
      );
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }),
        new RegExp(
          `catalog postgresql://.*/${db}\\?.* has schema version ${PG_SCHEMA_VERSION + 1}, newer than this hashall understands \\(${PG_SCHEMA_VERSION}\\); upgrade hashall`,
        ),
      );
    });

    it('refuses a database that holds other tables and no catalog, and changes nothing', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      await cluster.admin('CREATE TABLE invoices (id int)', [], db);
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }),
        new RegExp(`database ${db} at .* holds other tables \\(invoices\\) and no hashall catalog`),
      );
      const t = await cluster.admin(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`,
        [],
        db,
      );
      expect(t.rows).toEqual([{ tablename: 'invoices' }]);
    });

    it('a role that may not create tables gets one line; once migrated, plain DML rights suffice', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase(); // owned by the superuser, not alice
      const url = cluster.url(db, { user: 'alice', password: SECRET });
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', url], { env: env() }),
        /role alice may not create the catalog's tables in database \w+ \(permission denied for schema public\); run hashall once as the database's owner, or GRANT CREATE ON SCHEMA public TO alice/,
      );
      expect(hashall(['hosts', '--catalog', cluster.url(db)], { env: env() }).code).toBe(0);
      // README "Several hosts": the grants a scanning host's role gets.
      await cluster.admin(
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO alice;
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO alice`,
        [],
        db,
      );
      const cat = await openPgCatalog(url);
      try {
        await cat.hosts.register({ machineId: 'm-alice', hostname: 'nas1' });
      } finally {
        await cat.close();
      }
      const r = hashall(['hosts', '--catalog', url, '--json'], { env: env() });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.json<{ hosts: { hostname: string }[] }>().hosts.map((h) => h.hostname)).toEqual([
        'nas1',
      ]);
      // Still no right to change the schema.
      await expect(openPgCatalog(url).then(async (c) => c.close())).resolves.toBeUndefined();
      const ddl = await cluster.admin<{ can: boolean }>(
        `SELECT has_schema_privilege('alice', 'public', 'CREATE') AS can`,
        [],
        db,
      );
      expect(ddl.rows[0]!.can).toBe(false);
    });

    it('a connection lost while waiting to migrate: one line, exit 1; the next run migrates', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      const url = cluster.url(db);
      const holder = await cluster.connect(db);
      let run: Promise<{ code: number | null; stderr: string }>;
      try {
        await holder.query('SELECT pg_advisory_lock($1, 1)', [APPLICATION_ID]);
        run = new Promise((resolve) => {
          const p = spawn(process.execPath, [CLI, 'hosts', '--catalog', url], {
            env: { ...process.env, ...env() },
          });
          let stderr = '';
          p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          p.on('close', (code) => resolve({ code, stderr }));
        });
        // Once it waits for the lock, end its session as an administrator (or a restart) would.
        for (let tries = 0; ; tries++) {
          if (tries > 2400) throw new Error('the process never waited for the lock');
          const w = await cluster.admin<{ n: string }>(
            `SELECT count(pg_terminate_backend(l.pid)) AS n FROM pg_locks l
              WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = $1 AND l.objid = 1`,
            [APPLICATION_ID],
          );
          if (Number(w.rows[0]!.n) === 1) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await holder.end();
      }
      const lost = await run;
      expect(lost.code).toBe(1);
      const lines = lost.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^hashall: error: catalog postgresql:\/\/.*: the connection was lost while migrating the schema \(terminating connection due to administrator command\); .* run again$/,
      );
      const again = hashall(['hosts', '--catalog', url, '--json'], { env: env() });
      expect(again.code).toBe(0);
      const v = await cluster.admin<{ n: string }>(
        'SELECT count(*) AS n FROM hashall_schema',
        [],
        db,
      );
      expect(Number(v.rows[0]!.n)).toBe(PG_SCHEMA_VERSION);
    });

    it('two processes migrating one empty database at once both succeed, the schema made once', async (ctx) => {
      requirePg(ctx);
      const db = await cluster.createDatabase();
      const url = cluster.url(db);
      // Hold the migration lock so that every process is waiting on it at the same moment,
      // then let them all go: each must see the other's work and not redo it.
      const holder = await cluster.connect(db);
      try {
        await holder.query('SELECT pg_advisory_lock($1, 1)', [APPLICATION_ID]);
        const runs = [0, 1, 2].map(
          () =>
            new Promise<{ code: number | null; stderr: string }>((resolve) => {
              const p = spawn(process.execPath, [CLI, 'hosts', '--catalog', url, '--json'], {
                env: { ...process.env, ...env() },
              });
              let stderr = '';
              p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
              p.on('close', (code) => resolve({ code, stderr }));
            }),
        );
        for (let tries = 0; ; tries++) {
          if (tries > 2400) throw new Error('the three processes never all waited for the lock');
          const w = await cluster.admin<{ n: string }>(
            `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                AND classid = $1 AND objid = 1`,
            [APPLICATION_ID],
          );
          if (Number(w.rows[0]!.n) === 3) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await holder.query('SELECT pg_advisory_unlock($1, 1)', [APPLICATION_ID]);
        const done = await Promise.all(runs);
        expect(done).toEqual([0, 1, 2].map(() => ({ code: 0, stderr: '' })));
      } finally {
        await holder.end();
      }
      const v = await cluster.admin<{ n: string }>(
        'SELECT count(*) AS n FROM hashall_schema',
        [],
        db,
      );
      expect(Number(v.rows[0]!.n)).toBe(PG_SCHEMA_VERSION);
    });
  });
  describe('hosts', () => {
    it("this host's identity: /etc/machine-id and the hostname, or the overrides", () => {
      const real = hostIdentity({});
      expect(real.hostname).toBe(hostname());
      const mid = readFileSync('/etc/machine-id', 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(mid))
        expect(real).toMatchObject({ machineId: mid, source: 'machine-id' });
      expect(hostIdentity({ HASHALL_HOST_ID: 'vm-42', HASHALL_HOSTNAME: 'nas9' })).toEqual({
        machineId: 'vm-42',
        hostname: 'nas9',
        source: 'override',
      });
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', join(dir, 'none.db')], {
          env: env({ HASHALL_HOST_ID: 'two words' }),
        }),
        /HASHALL_HOST_ID="two words" is not valid: use 1 to 128 printable characters without spaces/,
      );
    });

    it('an SQLite catalog registers and lists hosts too (one row per machine id)', async () => {
      const file = join(dir, 'hosts.db');
      const cat = openCatalog(file);
      try {
        const ops = hostOps(cat.db);
        const a = await ops.hosts.register({ machineId: 'm-a', hostname: 'nas1' }, 1000);
        await ops.hosts.register({ machineId: 'm-b', hostname: 'backup2' }, 2000);
        const a2 = await ops.hosts.register({ machineId: 'm-a', hostname: 'nas1-new' }, 3000);
        expect(a2).toEqual({ ...a, hostname: 'nas1-new', lastSeenAt: 3000 });
      } finally {
        cat.db.close();
      }
      const r = hashall(['hosts', '--catalog', file, '--json'], {
        env: env({ HASHALL_HOST_ID: 'm-b' }),
      });
      expect(r.code).toBe(0);
      const doc = r.json<{ backend: string; hosts: Record<string, unknown>[] }>();
      expect(doc.backend).toBe('sqlite');
      expect(doc.hosts.map((h) => [h.hostname, h.machine_id, h.this_host])).toEqual([
        ['nas1-new', 'm-a', false],
        ['backup2', 'm-b', true],
      ]);
      const human = hashall(['hosts', '--catalog', file], { env: env({ HASHALL_HOST_ID: 'm-b' }) });
      expect(human.stdout).toMatch(/^ID\s+HOST\s+MACHINE ID\s+FIRST SEEN\s+LAST SEEN/);
      expect(human.stdout).toMatch(/\n\s*2\s+backup2\s+m-b\s.*\(this host\)\n/);
    });

    it('hosts simulated by UTS and mount namespaces register at once, one row each', async (ctx) => {
      requirePg(ctx);
      const why =
        mountUnavailableReason() ??
        (spawnSync('unshare', ['--uts', '--mount', 'true']).status === 0
          ? undefined
          : 'unshare --uts --mount is not permitted here');
      if (why) {
        if (process.env.HASHALL_REQUIRE_MOUNTS === '1') throw new Error(why);
        ctx.skip(why);
      }
      const db = await cluster.createDatabase();
      const url = cluster.url(db);
      const dist = (p: string) => pathToFileURL(join(CLI, '..', '..', p)).href;
      const script = join(dir, 'register.mjs');
      writeFileSync(
        script,
        [
          `const { hostIdentity } = await import(${JSON.stringify(dist('fs/host.js'))});`,
          `const { openPgCatalog } = await import(${JSON.stringify(dist('catalog/pg/open.js'))});`,
          'const cat = await openPgCatalog(process.argv[2]);',
          'const row = await cat.hosts.register(hostIdentity());',
          'await cat.close();',
          'console.log(JSON.stringify(row));',
        ].join('\n'),
      );
      // Each simulated host: its own hostname (UTS namespace) and its own /etc/machine-id
      // (a bind mount that only its mount namespace sees).
      const simulate = (name: string, machineId: string) => {
        const idFile = join(dir, `machine-id-${name}`);
        writeFileSync(idFile, `${machineId}\n`);
        return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const p = spawn(
            'unshare',
            [
              '--uts',
              '--mount',
              'sh',
              '-c',
              'hostname "$1" && mount --bind "$2" /etc/machine-id && exec "$3" "$4" "$5"',
              'sh',
              name,
              idFile,
              process.execPath,
              script,
              url,
            ],
            { env: { ...process.env, ...env() } },
          );
          let out = '';
          let err = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          p.on('close', (code) => resolve({ code, out, err }));
        });
      };
      const ids = ['a1', 'b2', 'c3'].map((c) => c.repeat(16));
      const first = await Promise.all([
        simulate('nas1', ids[0]!),
        simulate('backup2', ids[1]!),
        simulate('media3', ids[2]!),
      ]);
      expect(first.map((r) => [r.code, r.err])).toEqual([
        [0, ''],
        [0, ''],
        [0, ''],
      ]);
      // nas1 renamed: the same host (same machine id), its new name.
      const again = await simulate('nas1-renamed', ids[0]!);
      expect(again.code).toBe(0);
      // The test's own hostname was not changed by the namespaces.
      expect(hostname()).toBe(hostIdentity({}).hostname);
      const r = hashall(['hosts', '--catalog', url, '--json'], { env: env() });
      expect(r.code).toBe(0);
      const hosts = r.json<{ hosts: Record<string, unknown>[] }>().hosts;
      expect(hosts.map((h) => [h.hostname, h.machine_id, h.this_host]).sort()).toEqual([
        ['backup2', ids[1], false],
        ['media3', ids[2], false],
        ['nas1-renamed', ids[0], false],
      ]);
      const nas1 = JSON.parse(first[0]!.out) as { id: number; firstSeenAt: number };
      const row = hosts.find((h) => h.machine_id === ids[0])!;
      expect(row.id).toBe(nas1.id);
      expect(row.first_seen_at).toBe(new Date(nas1.firstSeenAt).toISOString());
    });
  });
  describe('TLS over loopback: sslmode as libpq means it', () => {
    let tls: Awaited<ReturnType<typeof startPgCluster>> | undefined;
    beforeAll(async () => {
      if (pgUnavailableReason() && process.env.HASHALL_REQUIRE_PG !== '1') return;
      tls = await startPgCluster({ kind: 'socket-and-tls' });
      await tls.createRole('alice', SECRET);
    });
    afterAll(() => tls?.stop());
    const at = (host: string, db: string, params: string) =>
      `postgresql://alice:${SECRET}@${host}:${tls!.port}/${db}?${params}`;
    const encrypted = (db: string) =>
      new RegExp(`database=${db} .*SSL enabled`).test(readFileSync(tls!.log, 'utf8'));

    it('prefer (the default) and require connect with TLS', async (ctx) => {
      requirePg(ctx);
      for (const mode of ['', 'sslmode=require']) {
        const db = await tls!.createDatabase('alice');
        const r = hashall(['hosts', '--catalog', at('localhost', db, mode), '--json'], {
          env: env(),
        });
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(encrypted(db)).toBe(true);
      }
    });

    it('allow tries plain first, then TLS when the server wants it', async (ctx) => {
      requirePg(ctx);
      const db = await tls!.createDatabase('alice');
      const r = hashall(['hosts', '--catalog', at('localhost', db, 'sslmode=allow'), '--json'], {
        env: env(),
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(encrypted(db)).toBe(true);
    });

    it('disable is refused by a server that wants TLS, in one line', async (ctx) => {
      requirePg(ctx);
      const db = await tls!.createDatabase('alice');
      const r = hashall(['hosts', '--catalog', at('localhost', db, 'sslmode=disable')], {
        env: env(),
      });
      expectOneLineRefusal(
        r,
        /role alice may not connect to database \w+ \(pg_hba\.conf rejects connection .*no encryption\)/,
      );
      expect(r.stderr).not.toContain(SECRET);
    });

    it('verify-full checks the CA and the host name; verify-ca the CA only', async (ctx) => {
      requirePg(ctx);
      const db = await tls!.createDatabase('alice');
      const ca = `sslrootcert=${encodeURIComponent(tls!.tlsCa!)}`;
      const full = hashall(
        ['hosts', '--catalog', at('localhost', db, `sslmode=verify-full&${ca}`), '--json'],
        { env: env() },
      );
      expect(full.stderr).toBe('');
      expect(full.code).toBe(0);
      // The certificate is for 'localhost', not for the address.
      expectOneLineRefusal(
        hashall(['hosts', '--catalog', at('127.0.0.1', db, `sslmode=verify-full&${ca}`)], {
          env: env(),
        }),
        /cannot connect to catalog postgresql:\/\/alice@127\.0\.0\.1:\d+\/\w+ with sslmode=verify-full: .*(altnames|does not match)/,
      );
      const caOnly = hashall(
        ['hosts', '--catalog', at('127.0.0.1', db, `sslmode=verify-ca&${ca}`), '--json'],
        { env: env() },
      );
      expect(caOnly.stderr).toBe('');
      expect(caOnly.code).toBe(0);
      // Another CA: refused, whatever the host name.
      const other = join(dir, 'other-ca');
      mkdirSync(other, { recursive: true });
      spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=other',
        ].concat(['-keyout', join(other, 'ca.key'), '-out', join(other, 'ca.crt')]),
      );
      const wrong = hashall(
        [
          'hosts',
          '--catalog',
          at(
            'localhost',
            db,
            `sslmode=verify-ca&sslrootcert=${encodeURIComponent(join(other, 'ca.crt'))}`,
          ),
        ],
        { env: env() },
      );
      expectOneLineRefusal(wrong, /with sslmode=verify-ca: .*certificate/);
      expect(wrong.stderr).not.toContain(SECRET);
    });
  });
  describe('plain TCP over loopback (a server without TLS)', () => {
    let plain: Awaited<ReturnType<typeof startPgCluster>> | undefined;
    beforeAll(async () => {
      if (pgUnavailableReason() && process.env.HASHALL_REQUIRE_PG !== '1') return;
      plain = await startPgCluster({ kind: 'socket-and-plain-tcp' });
      await plain.createRole('alice', SECRET);
    });
    afterAll(() => plain?.stop());

    it('prefer (the default) falls back to plain; require is refused in one line', async (ctx) => {
      requirePg(ctx);
      const db = await plain!.createDatabase('alice');
      const url = (params: string) =>
        `postgresql://alice:${SECRET}@localhost:${plain!.port}/${db}${params}`;
      const r = hashall(['hosts', '--catalog', url(''), '--json'], { env: env() });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const req = hashall(['hosts', '--catalog', url('?sslmode=require')], { env: env() });
      expectOneLineRefusal(
        req,
        /cannot connect to catalog postgresql:\/\/alice@localhost:\d+\/\w+ with sslmode=require: The server does not support SSL connections/,
      );
      expect(req.stderr).not.toContain(SECRET);
    });
  });
});
