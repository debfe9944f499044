/**
 * Queries whose int8 columns arrive as BigInt, exactly as SQLite's safe integers give them:
 * inodes (signed 64-bit), nanosecond times and ids. pg's default parser hands int8 over as
 * text; changing it globally would change every other query of the process, so the parser is
 * per query (the driver's `types` option).
 */
import type pg from 'pg';
import { loadedDriver } from './driver.js';

const INT8 = 20;

// The driver's own parsers for every other type, from the driver the connection loaded: a
// static import of 'pg' here would load it with this module, ahead of ./driver.ts.
const exactTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8
      ? (v: string) => BigInt(v)
      : loadedDriver().types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** The rows of a query, int8 as BigInt (numeric, e.g. sum(), stays text). */
export async function exactRows<R extends pg.QueryResultRow>(
  client: pg.Client,
  text: string,
  values: readonly unknown[] = [],
): Promise<R[]> {
  return (await client.query<R>({ text, values: [...values], types: exactTypes })).rows;
}

/** A 64-bit inode as PostgreSQL's bigint holds it (signed, as SQLite stores it). */
export const int8 = (v: bigint): string => BigInt.asIntN(64, v).toString();
