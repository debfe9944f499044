/**
 * `--device PATH|ALIAS` and `PATH...` together, for the commands that plan or list duplicates
 * (analyze, plan, auto-execute, dupes). `--device` with an alias or a mount point means the
 * whole filesystem; `--device DIR` with a directory inside a filesystem means that directory
 * (it scopes like a PATH), never silently the whole filesystem. The mount point of a bind mount
 * of one directory is that directory: it shows no more of its filesystem.
 */
import type { DeviceRow } from '../catalog/devices.js';
import { UserError } from '../errors.js';
import { lstatSync } from 'node:fs';
import { isUnder } from '../paths.js';
import { displayPath } from '../display-path.js';
import {
  Scope,
  resolveCataloguedPath,
  resolveScopeDir,
  type ScopeCatalog,
  type ScopeEntry,
} from './scope.js';

export interface DeviceAndScope {
  /** The filesystem --device named (undefined: every device the scope allows). */
  readonly device: DeviceRow | undefined;
  readonly scope: Scope;
}

export async function resolveDeviceAndScope(
  catalog: ScopeCatalog,
  deviceArg: Buffer | undefined,
  paths: readonly Buffer[],
): Promise<DeviceAndScope> {
  let device: DeviceRow | undefined;
  let within: ScopeEntry | undefined;
  if (deviceArg !== undefined) {
    const text = deviceArg.toString('utf8');
    const byAlias = text.includes('/') ? undefined : await catalog.planDevices.byAlias(text);
    if (byAlias) device = byAlias;
    else {
      const r = await resolveCataloguedPath(catalog, deviceArg, '--device');
      device = r.device;
      if (!r.wholeFilesystem) {
        const shown = `--device ${displayPath(deviceArg)}`;
        if (!lstatSync(r.abs).isDirectory()) {
          throw new UserError(
            `${shown}: a file, not a filesystem; for its whole filesystem give its mount point or alias (--device ${displayPath(device.mountPoint)} or --device ${device.alias})`,
          );
        }
        if (
          !(await catalog.planDevices.isCataloguedDir({ deviceId: device.id, fsPath: r.fsPath }))
        ) {
          throw new UserError(
            `${shown}: ${displayPath(r.abs)} is not in the catalog; run 'hashall scan ${displayPath(r.abs)}' first`,
          );
        }
        within = { device, deviceId: device.id, fsPath: r.fsPath, path: r.abs };
      }
    }
  }
  const named: ScopeEntry[] = [];
  for (const p of paths) named.push(await resolveScopeDir(catalog, p));
  for (const e of named) {
    if (device && e.deviceId !== device.id) {
      throw new UserError(
        `PATH ${displayPath(e.path)} is on ${e.device.alias} (${displayPath(e.device.mountPoint)}), not on --device ${device.alias}; leave --device out to use PATHs on several filesystems`,
      );
    }
    if (within && !isUnder(e.fsPath, within.fsPath)) {
      throw new UserError(
        `PATH ${displayPath(e.path)} is not inside --device ${displayPath(within.path)}; give PATHs inside it, or --device ${device!.alias} for its whole filesystem`,
      );
    }
  }
  const entries = named.length > 0 ? named : within ? [within] : [];
  return { device, scope: Scope.of(entries) };
}

/**
 * `--device` for commands that report on whole filesystems (status, export): an alias or a
 * mount point. A directory inside a filesystem is refused rather than silently widened.
 */
export async function resolveWholeDevice(
  catalog: ScopeCatalog,
  deviceArg: Buffer,
  command: string,
): Promise<DeviceRow> {
  const { device, scope } = await resolveDeviceAndScope(catalog, deviceArg, []);
  if (scope.active) {
    const e = scope.entries[0]!;
    throw new UserError(
      `--device ${displayPath(deviceArg)} is a directory inside ${e.device.alias} (mounted at ${displayPath(e.device.mountPoint)}), not a filesystem; for the whole filesystem give --device ${e.device.alias} (or ${displayPath(e.device.mountPoint)}); ${command}`,
    );
  }
  return device!;
}
