/**
 * The query concern of the catalog port (../query-port.ts) on PostgreSQL, over one
 * `pg.Client`, with the results of the SQLite implementation (`queryOps`): duplicate groups
 * (query-groups.ts), the dupes listing (query-dupes.ts), figures and the export
 * (query-stats.ts), a plan's report (query-report.ts). Prepared groupings live in temporary
 * tables of the connection, as SQLite's in `temp`; every long listing is read in pages of
 * bounded size, so no server-side cursor stays open between pages.
 */
import type pg from 'pg';
import type { QueryCatalog } from '../query-port.js';
import { pgDupeQueries } from './query-dupes.js';
import { pgGroupQueries } from './query-groups.js';
import { pgPlanReportQueries } from './query-report.js';
import { pgExportQueries, pgStatsQueries } from './query-stats.js';

export function pgQueryOps(client: pg.Client): QueryCatalog {
  return {
    groups: pgGroupQueries(client),
    dupes: pgDupeQueries(client),
    stats: pgStatsQueries(client),
    export: pgExportQueries(client),
    planReport: pgPlanReportQueries(client),
  };
}
