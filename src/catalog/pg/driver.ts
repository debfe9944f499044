/**
 * The `pg` driver, loaded on the first connection (./connect.ts) and only then: every command
 * would otherwise pay for loading it (about 60 ms of each start here, bench/NOTES.md) to
 * open a SQLite catalog. Modules that need the driver's values (not only its types) take them
 * from here once connected (loadedDriver), never by a static import of 'pg', which would load
 * it with the modules that import them, before loadDriver could.
 */
import type pg from 'pg';

/** The `pg` driver's module. */
export type PgDriver = typeof pg;

let loaded: PgDriver | undefined;

/** The driver (loaded once). */
export async function loadDriver(): Promise<PgDriver> {
  if (loaded) return loaded;
  // pg asks, as it loads (lib/stream.js), whether it runs on Cloudflare Workers: a `navigator`
  // whose userAgent says so, else a `Response` it builds. Node before 21 has no `navigator`, and
  // touching `Response` loads Node's whole fetch implementation (undici): 20–60 ms of every
  // command on a PostgreSQL catalog, for nothing. A `navigator` that answers is lent for the
  // load and taken back (where Node has its own, it is left alone).
  const g = globalThis as { navigator?: unknown };
  const lend = g.navigator === undefined;
  if (lend) {
    Object.defineProperty(g, 'navigator', {
      value: { userAgent: `Node.js/${process.versions.node}` },
      configurable: true,
      writable: true,
    });
  }
  try {
    // eslint-disable-next-line no-restricted-syntax -- a package, not a layer: loaded only when used
    const mod = await import('pg');
    loaded = mod.default;
    return loaded;
  } finally {
    if (lend) delete g.navigator;
  }
}

/** The driver a connection has loaded: for code that runs on a connected client. */
export function loadedDriver(): PgDriver {
  if (!loaded) throw new Error('the pg driver is used before any connection loaded it');
  return loaded;
}
