/**
 * Closing the catalog a command opened. Interim: the port has no `close` yet, and code outside
 * src/catalog must not reach the handle to close it; this goes when the port gains one.
 */
import type { Catalog } from './port.js';
import type { SqliteCatalog } from './sqlite.js';

export function closeCatalog(catalog: Catalog): void {
  (catalog as SqliteCatalog).db.close();
}
