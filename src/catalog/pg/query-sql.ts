/** Small shared pieces of the PostgreSQL query concern (query*.ts). */

/** An int8 or count as pg gives it (text), or an int4 (number). */
export type Int = string | number;

/** SQLite's LIMIT -1 (no limit) is PostgreSQL's LIMIT NULL. */
export const pgLimit = (limit: number): number | null => (limit < 0 ? null : limit);
