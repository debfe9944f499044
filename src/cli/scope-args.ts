/** `--device` and `PATH...` as typed (exact bytes), resolved to a device and a scope. */
import type { DB } from '../catalog/open.js';
import { resolveDeviceAndScope, type DeviceAndScope } from '../conductor/device-scope.js';
import { argBytes } from './raw-argv.js';

export const PATHS_HELP =
  'only catalogued paths at or below these directories take part (default: everything)';

export function deviceAndScope(
  db: DB,
  device: string | undefined,
  paths: readonly string[] | undefined,
): DeviceAndScope {
  return resolveDeviceAndScope(
    db,
    device === undefined ? undefined : argBytes(device),
    (paths ?? []).map(argBytes),
  );
}
