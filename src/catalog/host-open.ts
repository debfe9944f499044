/**
 * The hosts concern of whichever catalog --catalog (or HASHALL_CATALOG) names: a
 * postgresql:// URL opens the PostgreSQL backend, anything else the SQLite file.
 */
import { catalogBackend } from './backend.js';
import type { HostCatalog } from './host-port.js';
import type { DeviceMountCatalog } from './device-mount-port.js';
import { deviceMountOps } from './device-mounts.js';
import { hostOps } from './hosts.js';
import { openCatalog } from './open.js';
import { openPgCatalog } from './pg/open.js';

export interface OpenHostCatalog extends HostCatalog, DeviceMountCatalog {
  readonly location: string;
  readonly backend: 'sqlite' | 'postgresql';
  /** A failure in the middle of a command, as one line. */
  failure(err: unknown): unknown;
  close(): Promise<void>;
}

export async function openHostCatalog(option: string | undefined): Promise<OpenHostCatalog> {
  const backend = catalogBackend(option);
  if (backend.kind === 'postgresql') {
    const pg = await openPgCatalog(backend.url);
    return { ...pg, backend: 'postgresql' };
  }
  const cat = openCatalog(option, { readonly: true });
  return {
    location: cat.location,
    backend: 'sqlite',
    ...hostOps(cat.db),
    ...deviceMountOps(cat.db),
    failure: (err) => err,
    close: () => {
      cat.db.close();
      return Promise.resolve();
    },
  };
}
