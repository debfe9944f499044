/**
 * Which backend a --catalog value (or HASHALL_CATALOG) names: a postgresql:// or postgres://
 * URL is PostgreSQL, anything else an SQLite file path.
 */
import { UserError } from '../errors.js';
import { isPostgresUrl, redactUrl } from './pg/target.js';

export type CatalogBackend =
  | { readonly kind: 'sqlite'; readonly option: string | undefined }
  | { readonly kind: 'postgresql'; readonly url: string };

export function catalogBackend(option: string | undefined): CatalogBackend {
  const given = option || process.env.HASHALL_CATALOG || '';
  return isPostgresUrl(given) ? { kind: 'postgresql', url: given } : { kind: 'sqlite', option };
}

/**
 * Until the PostgreSQL backend implements the whole port (issue 15), a command that needs it
 * refuses a database URL in one line — rather than taking the URL for a file name.
 */
export function requireSqliteBackend(option: string | undefined): void {
  const b = catalogBackend(option);
  if (b.kind === 'postgresql') {
    throw new UserError(
      `catalog ${redactUrl(b.url)}: this command does not run on a PostgreSQL catalog yet (only 'hashall hosts' does); use an SQLite catalog file`,
    );
  }
}
