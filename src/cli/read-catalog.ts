/**
 * The catalog of a read-only command (analyze, dupes, export, report, stats): opened read-only,
 * handed to the command as the port (no database handle), closed when the command ends.
 *
 * `--device` and PATH arguments are resolved here because their resolution
 * (conductor/device-scope.ts) still takes the database handle; once it takes the port, this is
 * the one file of the read side to change.
 */
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import { resolveWholeDevice } from '../conductor/device-scope.js';
import type { DeviceAndScope } from '../conductor/device-scope.js';
import { open, type GlobalOptions } from './context.js';
import { argBytes } from './raw-argv.js';
import { deviceAndScope } from './scope-args.js';

export interface ReadSession {
  readonly catalog: Catalog;
  /** `--device` (a mount point, alias, or a directory inside: then the scope) and PATHs. */
  deviceAndScope(device: string | undefined, paths: readonly string[]): DeviceAndScope;
  /** `--device` naming a whole filesystem; `why` says why a directory inside is refused. */
  wholeDevice(device: string, why: string): DeviceRow;
}

export async function withReadCatalog<T>(
  opts: GlobalOptions,
  fn: (s: ReadSession) => Promise<T>,
): Promise<T> {
  const opened = open(opts, { readonly: true });
  try {
    return await fn({
      catalog: opened,
      deviceAndScope: (device, paths) => deviceAndScope(opened.db, device, paths),
      wholeDevice: (device, why) => resolveWholeDevice(opened.db, argBytes(device), why),
    });
  } finally {
    opened.db.close();
  }
}
