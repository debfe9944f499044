/**
 * Device identities that mean something only on one host (README "Several hosts"). A
 * filesystem UUID, a ZFS GUID or a btrfs UUID + subvolume names the filesystem wherever it is
 * seen; a bare device number (`dev:MAJ:MIN`: tmpfs, overlayfs, a device whose UUID cannot be
 * read) does not: every host's first tmpfs is `dev:0:NN`. Such an identity is qualified by the
 * host's machine id (`dev:0:52@3d12…`), so that two hosts' filesystems never merge.
 *
 * Shared by fs (which makes identities) and catalog (which adopts a catalog's rows written
 * before hosts existed): a base module, so that neither imports the other.
 */

/** Whether an identity is only a device number, meaningless off its host. */
export function isHostLocal(identity: string): boolean {
  return identity.startsWith('dev:');
}

/** The identity a host registers: a bare device number gets `@MACHINE-ID`, others unchanged. */
export function qualifyIdentity(identity: string, machineId: string): string {
  return isHostLocal(identity) && !identity.includes('@') ? `${identity}@${machineId}` : identity;
}

/**
 * The identity a catalog from before hosts recorded for a qualified one (`dev:0:52@M` →
 * `dev:0:52`), or undefined when the identity is not host-qualified. Those rows belong to the
 * host that first registers the device again (an SQLite catalog had one host: this one).
 */
export function legacyIdentity(identity: string): string | undefined {
  if (!isHostLocal(identity)) return undefined;
  const at = identity.indexOf('@');
  return at > 0 ? identity.slice(0, at) : undefined;
}
