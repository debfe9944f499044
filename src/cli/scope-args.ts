/** `--device` and `PATH...` as typed (exact bytes), resolved to a device and a scope. */
import { resolveDeviceAndScope, type DeviceAndScope } from '../conductor/device-scope.js';
import type { ScopeCatalog } from '../conductor/scope.js';
import { argBytes } from './raw-argv.js';

export const PATHS_HELP =
  'only catalogued paths at or below these directories take part (default: everything)';

export function deviceAndScope(
  catalog: ScopeCatalog,
  device: string | undefined,
  paths: readonly string[] | undefined,
): Promise<DeviceAndScope> {
  return resolveDeviceAndScope(
    catalog,
    device === undefined ? undefined : argBytes(device),
    (paths ?? []).map(argBytes),
  );
}
