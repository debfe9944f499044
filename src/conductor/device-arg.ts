/** `--device PATH` (or an alias): which catalogued filesystem the user means. */
import { lstatSync, realpathSync } from 'node:fs';
import type { DB } from '../catalog/open.js';
import { findDeviceByAlias, getDeviceByIdentity, type DeviceRow } from '../catalog/devices.js';
import { UserError, describeErrno } from '../errors.js';
import { findMount, readMountinfo } from '../fs/mountinfo.js';
import { resolveIdentity } from '../fs/identity.js';

export function resolveDeviceArg(db: DB, arg: string): DeviceRow {
  if (!arg.includes('/')) {
    const byAlias = findDeviceByAlias(db, arg);
    if (byAlias) return byAlias;
  }
  let abs: Buffer;
  try {
    abs = realpathSync(Buffer.from(arg), { encoding: 'buffer' });
  } catch (err) {
    throw new UserError(
      `--device ${arg}: ${describeErrno(err)}; give a path on the filesystem or a device alias ('hashall devices')`,
    );
  }
  const st = lstatSync(abs, { bigint: true });
  const mount = findMount(readMountinfo(), abs, st.dev);
  if (!mount) throw new UserError(`--device ${arg}: no mount found for it`);
  const id = resolveIdentity(mount);
  const dev = getDeviceByIdentity(db, id.identity);
  if (!dev) {
    throw new UserError(
      `--device ${arg}: its filesystem (${id.identity}) is not in the catalog; run 'hashall scan ${arg}' first`,
    );
  }
  return dev;
}
