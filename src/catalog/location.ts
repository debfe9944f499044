/** Where the SQLite catalog file is: --catalog, else $HASHALL_CATALOG, else the default. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultCatalogPath(): string {
  return join(homedir(), '.hashall', 'catalog.db');
}

export function catalogPath(option: string | undefined): string {
  const p = option || process.env.HASHALL_CATALOG || defaultCatalogPath();
  return resolve(p);
}
