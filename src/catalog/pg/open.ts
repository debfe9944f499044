/**
 * Opening a PostgreSQL catalog: connect (connect.ts), migrate (migrate.ts), and hand out the
 * concerns implemented so far. The scan, plan, execute and query concerns of the port
 * (../port.ts) come next; until then this is what `hashall hosts` uses.
 */
import { EXIT, UserError } from '../../errors.js';
import type { HostCatalog } from '../host-port.js';
import type { DeviceMountCatalog } from '../device-mount-port.js';
import { pgDeviceMountOps } from './device-mounts.js';
import { redact } from './connect.js';
import { pgHostOps } from './hosts.js';
import { connectMigrated } from './migrate.js';

export interface PgCatalog extends HostCatalog, DeviceMountCatalog {
  /** The effective URL without a password (connect.ts). */
  readonly location: string;
  /**
   * A failure in the middle of a command (the server went away, a statement failed) as one
   * line that names the catalog and never its password (exit 1).
   */
  failure(err: unknown): UserError;
  close(): Promise<void>;
}

export async function openPgCatalog(url: string): Promise<PgCatalog> {
  const conn = await connectMigrated(url);
  return {
    location: conn.target.location,
    ...pgHostOps(conn.client),
    ...pgDeviceMountOps(conn.client),
    failure: (err) =>
      err instanceof UserError
        ? err
        : new UserError(
            `catalog ${conn.target.location}: ${redact(err instanceof Error ? err.message : String(err), conn.target)}; check that the server is up and run the command again`,
            EXIT.partial,
          ),
    close: () => conn.client.end(),
  };
}
