/**
 * The one door every command uses: the catalog --catalog (or HASHALL_CATALOG) names, as the
 * port. A file path opens SQLite, the embedded default; a postgresql:// URL opens the shared
 * backend. Opening is asynchronous because a server answers through the event loop; the
 * PostgreSQL modules (and the `pg` driver) are loaded only when a URL asks for them, so a
 * command on an SQLite catalog never pays for them at start-up.
 */
import { catalogBackend } from './backend.js';
import { openCatalog, type OpenOptions } from './open.js';
import type { Catalog } from './port.js';

export type { OpenOptions } from './open.js';

export function openPort(option: string | undefined, o: OpenOptions = {}): Promise<Catalog> {
  const backend = catalogBackend(option);
  if (backend.kind === 'postgresql') return openPg(backend.url);
  return Promise.resolve(openCatalog(option, o));
}

async function openPg(url: string): Promise<Catalog> {
  const { openPgPort } = await import('./pg/catalog.js');
  return openPgPort(url);
}
