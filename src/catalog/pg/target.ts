/**
 * Where a PostgreSQL catalog is: a `postgresql://` or `postgres://` URL resolved the way libpq
 * resolves it (URL, then its query parameters, then the standard PG* variables, then libpq's
 * defaults), so that a user's existing setup (PGHOST, PGUSER, ~/.pgpass, PGSSLMODE) just works.
 *
 * The password is kept out of everything printable: `location` never has it, and the target
 * object holds it in a non-enumerable property (JSON.stringify and inspect skip it).
 */
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../errors.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = [
  'disable',
  'allow',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
];

/** The query parameters a catalog URL may carry (a subset of libpq's). */
const PARAMS = [
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'connect_timeout',
  'application_name',
] as const;
type Param = (typeof PARAMS)[number];

/** A Unix-socket directory or a TCP host name/address. */
export type PgHost =
  | { readonly kind: 'socket'; readonly dir: string }
  | { readonly kind: 'tcp'; readonly name: string };

export interface PgTarget {
  readonly host: PgHost;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly sslMode: SslMode;
  readonly sslRootCert: string | undefined;
  readonly sslCert: string | undefined;
  readonly sslKey: string | undefined;
  /** Seconds; 0 waits as long as the system does. */
  readonly connectTimeout: number;
  readonly applicationName: string;
  /** From the URL or PGPASSWORD; undefined means: ask ~/.pgpass when the server wants one. */
  readonly password: string | undefined;
  /** For messages and JSON: the effective URL without any password. */
  readonly location: string;
}

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/** libpq's default socket directory: Debian's, else upstream's. */
export function defaultSocketDir(): string {
  return existsSync('/var/run/postgresql') ? '/var/run/postgresql' : '/tmp';
}

function bad(url: string, why: string): never {
  throw new UserError(`catalog URL ${redactUrl(url)} is not valid: ${why}`);
}

/** The URL as given, with any password replaced: for messages about the URL itself. */
export function redactUrl(url: string): string {
  return (
    url
      // Greedy up to the authority's last '@', as URL parsers split it: 'me:p@ss@host'.
      .replace(/^([a-z]+:\/\/[^:@/?#]*):[^/?#]*@/i, '$1:***@')
      .replace(/([?&]password=)[^&#]*/gi, '$1***')
  );
}

interface Parsed {
  readonly fromUrl: Partial<Record<Param, string>>;
}

function parseUrl(url: string): Parsed {
  // WHATWG URL rejects credentials with an empty host ('postgresql://me@/db'): give it a
  // stand-in host and take it out again.
  const stand = '__hashall_no_host__';
  let u: URL;
  try {
    u = new URL(url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*@)(?=[/?#]|$)/i, `$1${stand}`));
  } catch {
    return bad(url, 'it cannot be parsed as postgresql://USER@HOST:PORT/DATABASE');
  }
  const fromUrl: Partial<Record<Param, string>> = {};
  const dec = (s: string, what: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return bad(url, `its ${what} has a broken %-escape`);
    }
  };
  if (u.username) fromUrl.user = dec(u.username, 'user name');
  if (u.password) fromUrl.password = dec(u.password, 'password');
  const hostname = u.hostname === stand ? '' : u.hostname;
  if (hostname) {
    const h = dec(hostname.replace(/^\[(.*)\]$/, '$1'), 'host');
    if (h.includes(',')) bad(url, 'several hosts are not supported; give one');
    fromUrl.host = h;
  }
  if (u.port) fromUrl.port = u.port;
  const path = u.pathname.replace(/^\//, '');
  if (path) fromUrl.dbname = dec(path, 'database name');
  for (const [key, value] of u.searchParams) {
    if (!(PARAMS as readonly string[]).includes(key)) {
      bad(url, `unknown parameter '${key}' (known: ${PARAMS.join(', ')})`);
    }
    fromUrl[key as Param] = value;
  }
  return { fromUrl };
}

function pick(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}

function hostOf(h: string): PgHost {
  return h.startsWith('/') ? { kind: 'socket', dir: h } : { kind: 'tcp', name: h };
}

/** The effective URL without a password, e.g. `postgresql://me@/hashall?host=/run/postgresql`. */
function locationOf(t: Omit<PgTarget, 'location' | 'password'>): string {
  const user = encodeURIComponent(t.user);
  const db = encodeURIComponent(t.database);
  if (t.host.kind === 'socket') {
    const port = t.port === 5432 ? '' : `&port=${t.port}`;
    return `postgresql://${user}@/${db}?host=${t.host.dir}${port}`;
  }
  const name = t.host.name.includes(':') ? `[${t.host.name}]` : t.host.name;
  const port = t.port === 5432 ? '' : `:${t.port}`;
  return `postgresql://${user}@${name}${port}/${db}`;
}

/** Resolve a catalog URL against the environment (PGHOST, PGPORT, PGUSER, ...). */
export function resolvePgTarget(url: string, env: NodeJS.ProcessEnv = process.env): PgTarget {
  if (!isPostgresUrl(url)) bad(url, 'it does not start with postgresql:// or postgres://');
  const { fromUrl } = parseUrl(url);
  const home = env.HOME || homedir();
  const host = hostOf(pick(fromUrl.host, env.PGHOST) ?? defaultSocketDir());
  const portText = pick(fromUrl.port, env.PGPORT) ?? '5432';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
    bad(url, `port ${portText} is not valid`);
  const user = pick(fromUrl.user, env.PGUSER) ?? userInfo().username;
  const database = pick(fromUrl.dbname, env.PGDATABASE) ?? user;
  const modeText = pick(fromUrl.sslmode, env.PGSSLMODE) ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(modeText)) {
    bad(url, `sslmode ${modeText} is not one of ${SSL_MODES.join(', ')}`);
  }
  const timeoutText = pick(fromUrl.connect_timeout, env.PGCONNECT_TIMEOUT) ?? '0';
  if (!/^\d+$/.test(timeoutText)) bad(url, `connect_timeout ${timeoutText} is not whole seconds`);
  const fileOr = (given: string | undefined, fallback: string): string | undefined =>
    given ?? (existsSync(fallback) ? fallback : undefined);
  const base = {
    host,
    port,
    user,
    database,
    sslMode: modeText as SslMode,
    sslRootCert: fileOr(
      pick(fromUrl.sslrootcert, env.PGSSLROOTCERT),
      join(home, '.postgresql', 'root.crt'),
    ),
    sslCert: fileOr(
      pick(fromUrl.sslcert, env.PGSSLCERT),
      join(home, '.postgresql', 'postgresql.crt'),
    ),
    sslKey: fileOr(pick(fromUrl.sslkey, env.PGSSLKEY), join(home, '.postgresql', 'postgresql.key')),
    connectTimeout: Number(timeoutText),
    applicationName: pick(fromUrl.application_name, env.PGAPPNAME) ?? 'hashall',
  };
  const target = { ...base, location: locationOf(base) } as PgTarget;
  // Not enumerable: a target that is logged or serialised does not carry the password.
  Object.defineProperty(target, 'password', {
    value: pick(fromUrl.password, env.PGPASSWORD),
    enumerable: false,
  });
  return target;
}
