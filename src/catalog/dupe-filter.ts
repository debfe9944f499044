/**
 * Which rows may form duplicate groups, for `hashall dupes` (dupes.ts) and the stored totals it
 * reads first (dupe-totals.ts): a shape of its own, so neither imports the other for it.
 */

/** Which rows may form groups (all of it is SQL: no row is read only to be dropped). */
export interface DupeRowFilter {
  /** One device only (`--device`). */
  readonly deviceId?: number | undefined;
  /** Groups span filesystems (`--cross-device`); otherwise one group per device and content. */
  readonly crossDevice: boolean;
  /** Rows limited to temp.scope_dirs (prepared by the caller). */
  readonly scoped: boolean;
  readonly minSize?: number | undefined;
  readonly maxSize?: number | undefined;
  /** mtime_ns bounds: since inclusive, before exclusive. */
  readonly mtimeSince?: bigint | undefined;
  readonly mtimeBefore?: bigint | undefined;
}
