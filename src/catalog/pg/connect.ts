/**
 * Connecting to a PostgreSQL catalog with the `pg` driver: the target resolved like libpq
 * (target.ts), the password from the URL, PGPASSWORD or the password file (pgpass.ts), TLS by
 * libpq's sslmode, and every failure to connect turned into one line that says what, where
 * (the `location`, never a password), why and what to do — exit 2.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { EXIT, UserError, errnoCode } from '../../errors.js';
import { lookupPgpass, type PgpassLookup } from './pgpass.js';
import { redactUrl, resolvePgTarget, type PgTarget } from './target.js';
import { setUpSession } from './session-options.js';
import { loadDriver, type PgDriver } from './driver.js';

/** A connected client and where it is connected. */
export interface PgConnection {
  readonly client: pg.Client;
  readonly target: PgTarget;
}

/** Whether this attempt uses TLS (prefer tries TLS, then plain if the server has none). */
type Tls = { readonly kind: 'off' } | { readonly kind: 'on'; readonly options: ConnectionOptions };

function readPem(path: string, what: string, t: PgTarget): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(
      `catalog ${t.location}: cannot read the ${what} ${path} (${errnoCode(err) ?? String(err)}); fix sslrootcert/sslcert/sslkey or PGSSL* variables`,
    );
  }
}

/** The TLS attempts for the target's sslmode, in order. Unix sockets never use TLS (as libpq). */
function tlsAttempts(t: PgTarget): Tls[] {
  if (t.host.kind === 'socket') return [{ kind: 'off' }];
  const client: ConnectionOptions = {
    ...(t.sslCert ? { cert: readPem(t.sslCert, 'client certificate', t) } : {}),
    ...(t.sslKey && t.sslCert ? { key: readPem(t.sslKey, 'client key', t) } : {}),
  };
  const noVerify: Tls = { kind: 'on', options: { ...client, rejectUnauthorized: false } };
  const withCa = (hostCheck: 'check-host' | 'any-host'): Tls => {
    if (!t.sslRootCert) {
      throw new UserError(
        `catalog ${t.location}: sslmode=${t.sslMode} needs the server's CA certificate, and there is no ~/.postgresql/root.crt; give sslrootcert=FILE in the URL or PGSSLROOTCERT`,
      );
    }
    return {
      kind: 'on',
      options: {
        ...client,
        ca: readPem(t.sslRootCert, 'CA certificate', t),
        rejectUnauthorized: true,
        ...(hostCheck === 'any-host' ? { checkServerIdentity: () => undefined } : {}),
      },
    };
  };
  switch (t.sslMode) {
    case 'disable':
      return [{ kind: 'off' }];
    case 'allow':
      return [{ kind: 'off' }, noVerify];
    case 'prefer':
      return [noVerify, { kind: 'off' }];
    case 'require':
      // libpq: with a root certificate present, require verifies the CA like verify-ca.
      return [t.sslRootCert ? withCa('any-host') : noVerify];
    case 'verify-ca':
      return [withCa('any-host')];
    case 'verify-full':
      return [withCa('check-host')];
  }
}

/** What the password callback found, for the message when the login is refused. */
interface PasswordSource {
  source: 'url-or-env' | PgpassLookup | 'not-asked';
}

function clientFor(driver: PgDriver, t: PgTarget, tls: Tls, asked: PasswordSource): pg.Client {
  return new driver.Client({
    host: t.host.kind === 'socket' ? t.host.dir : t.host.name,
    port: t.port,
    user: t.user,
    database: t.database,
    application_name: t.applicationName,
    ssl: tls.kind === 'on' ? tls.options : false,
    ...(t.connectTimeout > 0 ? { connectionTimeoutMillis: t.connectTimeout * 1000 } : {}),
    // Asked only when the server wants a password; undefined makes pg fail the login.
    password: () => {
      if (t.password !== undefined) {
        asked.source = 'url-or-env';
        return t.password;
      }
      const found = lookupPgpass(t);
      asked.source = found;
      return found.kind === 'found' ? found.password : (undefined as unknown as string);
    },
  });
}

/** Connect to the catalog at `url`; every failure to connect is a UserError (exit 2). */
export async function connectPg(url: string): Promise<PgConnection> {
  const target = resolvePgTarget(url);
  const attempts = tlsAttempts(target);
  const driver = await loadDriver();
  for (let i = 0; ; i++) {
    const asked: PasswordSource = { source: 'not-asked' };
    const client = clientFor(driver, target, attempts[i]!, asked);
    // A connection that drops later emits 'error' on the client: without a listener that
    // would crash the process; the failing query reports it instead.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await setUpSession(client);
      return { client, target };
    } catch (err) {
      await client.end().catch(() => undefined);
      if (i + 1 < attempts.length && worthAnotherTry(attempts[i]!, err)) continue;
      throw pgConnectError(target, err, asked);
    }
  }
}

/**
 * libpq's second attempt: sslmode=prefer goes on without TLS when the server has none or the
 * handshake fails; sslmode=allow goes on with TLS when the server refused a plain connection.
 * A refused login or a missing database is not retried: the second try would say the same.
 */
function worthAnotherTry(tried: Tls, err: unknown): boolean {
  const code = errnoCode(err) ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  if (tried.kind === 'on') {
    return /^ERR_SSL|^ERR_TLS|^EPROTO$/.test(code) || /does not support SSL|SSL|TLS/i.test(msg);
  }
  return code === '28000' && /no encryption/i.test(msg);
}

/** The password, wherever it came from, is never echoed back: replaced in any driver text. */
export function redact(text: string, t: PgTarget): string {
  let out = redactUrl(text);
  if (t.password) out = out.split(t.password).join('***');
  return out;
}

function pgpassHint(asked: PasswordSource): string {
  const s = asked.source;
  if (s === 'url-or-env' || s === 'not-asked') return 'check the password in the URL or PGPASSWORD';
  if (s.kind === 'found') return `check the password for it in ${s.file}`;
  if (s.kind === 'ignored') return `${s.file} was ignored because ${s.why}`;
  return `no line of ${s.file} matches; add one (host:port:database:user:password, mode 600) or set PGPASSWORD`;
}

/** One line for a failure to connect: what, where, why, what to do. */
export function pgConnectError(t: PgTarget, err: unknown, asked: PasswordSource): UserError {
  const loc = t.location;
  const msg = redact(err instanceof Error ? err.message : String(err), t);
  const code = errnoCode(err) ?? '';
  const where =
    t.host.kind === 'socket'
      ? `the socket ${t.host.dir}/.s.PGSQL.${t.port}`
      : `${t.host.name} port ${t.port}`;
  const line = (text: string) => new UserError(text, EXIT.usage);
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOENT':
      return line(
        `cannot connect to catalog ${loc}: nothing listens on ${where} (${code}); start PostgreSQL there or fix the host and port (--catalog, PGHOST, PGPORT)`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return line(
        `cannot connect to catalog ${loc}: host ${t.host.kind === 'tcp' ? t.host.name : ''} is unknown (${code}); fix the host name`,
      );
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return line(
        `cannot connect to catalog ${loc}: ${where} cannot be reached (${code}); check the network and the host name`,
      );
    case 'EACCES':
      return line(
        `cannot connect to catalog ${loc}: permission denied on ${where}; run as a user who may open the socket, or use TCP`,
      );
    case '28P01':
      return line(
        `catalog ${loc}: PostgreSQL refused the password of role ${t.user} (${msg}); ${pgpassHint(asked)}`,
      );
    case '28000':
      return line(
        `catalog ${loc}: role ${t.user} may not connect to database ${t.database} (${msg}); ask its administrator for access (pg_hba.conf, GRANT CONNECT) or use another role`,
      );
    case '3D000':
      return line(
        `catalog ${loc}: database ${t.database} does not exist; create it (createdb -O ${t.user} ${t.database}) or fix the database name in the URL`,
      );
    case '57P03':
      return line(
        `catalog ${loc}: the server is starting up or shutting down (${msg}); try again in a moment`,
      );
    case '53300':
      return line(
        `catalog ${loc}: the server has no free connections (${msg}); try again later or raise max_connections`,
      );
  }
  if (/client password must be a (non-empty )?string/i.test(msg)) {
    return line(
      `catalog ${loc}: the server wants a password for role ${t.user} and none was given; ${pgpassHint(asked)}`,
    );
  }
  if (/SSL|TLS|certificate/i.test(msg)) {
    return line(
      `cannot connect to catalog ${loc} with sslmode=${t.sslMode}: ${msg}; fix the server's TLS setup, sslrootcert, or choose another sslmode`,
    );
  }
  if (/timeout/i.test(msg)) {
    return line(
      `cannot connect to catalog ${loc}: no answer within ${t.connectTimeout} s (${msg}); check the host, or raise connect_timeout`,
    );
  }
  return line(`cannot connect to catalog ${loc}: ${msg}`);
}
