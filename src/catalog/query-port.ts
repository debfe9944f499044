/**
 * The catalog as the read side sees it: groups and analyze, dupes listings, clones, stats,
 * devices, export and reports. Long listings come as pages, never all rows at once.
 */
import type { DB } from './open.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in concern by concern
export interface QueryCatalog {}

export function queryOps(_db: DB): QueryCatalog {
  return {};
}
