/**
 * Which backend a --catalog value (or HASHALL_CATALOG) names: a postgresql:// or postgres://
 * URL is PostgreSQL, anything else an SQLite file path.
 */
import { errnoCode, type UserError } from '../errors.js';
import { catalogPath } from './location.js';
import { sqliteUserError } from './open.js';
import { pgFailure } from './pg/failure.js';
import { isPostgresUrl } from './pg/target.js';

export type CatalogBackend =
  | { readonly kind: 'sqlite'; readonly option: string | undefined }
  | { readonly kind: 'postgresql'; readonly url: string };

export function catalogBackend(option: string | undefined): CatalogBackend {
  const given = option || process.env.HASHALL_CATALOG || '';
  return isPostgresUrl(given) ? { kind: 'postgresql', url: given } : { kind: 'sqlite', option };
}

/**
 * A catalog failure in the middle of a command (SQLite: disk full, lock, I/O; PostgreSQL: the
 * server went away, a statement refused) as one line naming the catalog, or undefined when err
 * is not one (a bug: reported as an internal error).
 */
export function catalogFailure(option: string | undefined, err: unknown): UserError | undefined {
  const b = catalogBackend(option);
  if (b.kind === 'postgresql') return pgFailure(b.url, err);
  if (!(errnoCode(err) ?? '').startsWith('SQLITE_')) return undefined;
  return sqliteUserError(catalogPath(b.option), err);
}
