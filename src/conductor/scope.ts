/**
 * The scope of `analyze`, `plan`, `auto-execute` and `dupes`: the directories the user named
 * (`plan NAME PATH...`, or `--device DIR` with a DIR that is not a mount point). Only catalogued
 * paths at or below one of them take part: paths elsewhere are neither kept nor replaced, and
 * an inode with a link elsewhere cannot be freed (like a pinned one).
 *
 * Paths are resolved as the scan resolves its roots (realpath, then the mount it lives on),
 * and matched as bytes against the catalog's paths inside each filesystem.
 */
import { lstatSync, realpathSync } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import type { StoredScope } from '../catalog/scope.js';
import { UserError, describeErrno } from '../errors.js';
import { findMount, readMountinfo } from '../fs/mountinfo.js';
import { showsWholeFilesystem } from '../fs/mount-views.js';
import { hostDeviceIdentity } from '../fs/identity.js';
import { hostIdentity } from '../fs/host.js';
import { legacyIdentity } from '../device-identity.js';
import { isUnder, jsonPath, rebase, relativeTo } from '../paths.js';
import { displayPath } from '../display-path.js';

export interface ScopeEntry extends StoredScope {
  readonly device: DeviceRow;
}

export class Scope {
  private constructor(readonly entries: readonly ScopeEntry[]) {}

  static readonly all = new Scope([]);

  static of(entries: readonly ScopeEntry[]): Scope {
    // A directory inside another named one adds nothing; keep the first of equal ones.
    const kept: ScopeEntry[] = [];
    for (const e of entries) {
      if (kept.some((k) => k.deviceId === e.deviceId && isUnder(e.fsPath, k.fsPath))) continue;
      for (let i = kept.length - 1; i >= 0; i--) {
        const k = kept[i]!;
        if (k.deviceId === e.deviceId && isUnder(k.fsPath, e.fsPath)) kept.splice(i, 1);
      }
      kept.push(e);
    }
    return new Scope(kept);
  }

  /** True when the scope limits anything (some directory was named). */
  get active(): boolean {
    return this.entries.length > 0;
  }

  /** The devices the scope touches (each once). */
  get deviceIds(): number[] {
    return [...new Set(this.entries.map((e) => e.deviceId))];
  }

  /** Whether a catalogued path (its device and its path inside the filesystem) takes part. */
  contains(deviceId: number, fsPath: Buffer): boolean {
    if (!this.active) return true;
    return this.entries.some((e) => e.deviceId === deviceId && isUnder(fsPath, e.fsPath));
  }

  /**
   * What of the tree at `fsPath` (a directory inside the filesystem) takes part, as paths
   * inside the filesystem: the tree itself when the scope holds it, else the scope's
   * directories inside it (none when the scope lies beside it).
   */
  partsOf(deviceId: number, fsPath: Buffer): Buffer[] {
    if (this.contains(deviceId, fsPath)) return [fsPath];
    return this.entries
      .filter((e) => e.deviceId === deviceId && isUnder(e.fsPath, fsPath))
      .map((e) => e.fsPath);
  }

  /** For JSON: the absolute paths named (with `_b64` twins), their device and path inside. */
  toJson(): Record<string, unknown>[] {
    return this.entries.map((e) => scopeEntryJson(e, e.device.alias));
  }
}

export function scopeEntryJson(e: StoredScope, alias: string | undefined): Record<string, unknown> {
  return {
    ...jsonPath('path', e.path),
    device: alias ?? e.deviceId,
    ...jsonPath('fs_path', e.fsPath),
  };
}

/** One line for humans: the named directories, or undefined when the scope is everything. */
export function describeScope(entries: readonly { path: Buffer }[]): string | undefined {
  return entries.length ? entries.map((e) => displayPath(e.path)).join(', ') : undefined;
}

export interface ResolvedPath {
  /** realpath of the argument. */
  readonly abs: Buffer;
  readonly device: DeviceRow;
  /** Its path inside the filesystem. */
  readonly fsPath: Buffer;
  /**
   * True when it is a mount point that shows its whole filesystem (on btrfs, its whole
   * subvolume). The mount point of a bind mount of one directory is that directory.
   */
  readonly wholeFilesystem: boolean;
}

/**
 * Resolve a path argument: relative to the current directory, through symlinks; then find the
 * filesystem it is on and check the catalog knows it. `what` names the argument in errors.
 */
/** What resolving paths asks of the catalog. */
export type ScopeCatalog = Pick<Catalog, 'planDevices'>;

export async function resolveCataloguedPath(
  catalog: ScopeCatalog,
  arg: Buffer,
  what: string,
): Promise<ResolvedPath> {
  const shown = `${what} ${displayPath(arg)}`;
  let abs: Buffer;
  try {
    // realpathSync (the JS one) decodes a Buffer path as UTF-8 and loses other bytes; .native
    // is realpath(3) on the bytes.
    abs = realpathSync.native(arg, { encoding: 'buffer' });
  } catch (err) {
    throw new UserError(
      `${shown}: ${describeErrno(err)}; ${what === '--device' ? "give a filesystem's mount point, a directory on it, or a device alias ('hashall devices')" : 'give a catalogued directory'}`,
    );
  }
  const st = lstatSync(abs, { bigint: true });
  const mounts = readMountinfo();
  const mount = findMount(mounts, abs, st.dev);
  if (!mount) throw new UserError(`${shown}: no mount found for it in /proc/self/mountinfo`);
  // As this host's scan registered it (a bare device number is this host's); a catalog from
  // before hosts, not rescanned since, still has it unqualified.
  const id = hostDeviceIdentity(mount, hostIdentity().machineId);
  const legacy = legacyIdentity(id.identity);
  const device =
    (await catalog.planDevices.byIdentity(id.identity)) ??
    (legacy === undefined ? undefined : await catalog.planDevices.byIdentity(legacy));
  if (!device) {
    throw new UserError(
      `${shown}: its filesystem (${id.identity}, mounted at ${displayPath(mount.mountPoint)}) is not in the catalog; run 'hashall scan ${displayPath(abs)}' first`,
    );
  }
  const fsPath = rebase(mount.root, relativeTo(abs, mount.mountPoint));
  return {
    abs,
    device,
    fsPath,
    wholeFilesystem: abs.equals(mount.mountPoint) && showsWholeFilesystem(mounts, mount),
  };
}

/** A scope directory: an existing, catalogued directory. */
export async function resolveScopeDir(
  catalog: ScopeCatalog,
  arg: Buffer,
  what = 'PATH',
): Promise<ScopeEntry> {
  const r = await resolveCataloguedPath(catalog, arg, what);
  const shown = `${what} ${displayPath(arg)}`;
  if (!lstatSync(r.abs).isDirectory()) {
    throw new UserError(
      `${shown}: not a directory; name the directory to limit to (a file's copies: --include '${displayPath(r.abs)}')`,
    );
  }
  if (!(await catalog.planDevices.isCataloguedDir({ deviceId: r.device.id, fsPath: r.fsPath }))) {
    throw new UserError(
      `${shown}: ${displayPath(r.abs)} is not in the catalog (on ${r.device.alias}); run 'hashall scan ${displayPath(r.abs)}' first`,
    );
  }
  return { device: r.device, deviceId: r.device.id, fsPath: r.fsPath, path: r.abs };
}

/** The scope of several PATH arguments (none: everything). */
export async function resolveScope(catalog: ScopeCatalog, args: readonly Buffer[]): Promise<Scope> {
  const entries: ScopeEntry[] = [];
  for (const a of args) entries.push(await resolveScopeDir(catalog, a));
  return Scope.of(entries);
}
