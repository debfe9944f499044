/**
 * The catalog of a read-only command (analyze, dupes, export, report, stats): opened read-only,
 * handed to the command as the port (no database handle), closed when the command ends.
 */
import type { Catalog } from '../catalog/port.js';
import { open, type GlobalOptions } from './context.js';

export async function withReadCatalog<T>(
  opts: GlobalOptions,
  fn: (catalog: Catalog) => Promise<T>,
): Promise<T> {
  const opened = await open(opts, { readonly: true });
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
