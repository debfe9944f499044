/**
 * `hashall dupes`: the duplicate groups of the catalog, as fdupes/jdupes/fclones list them,
 * with the plan's filters and scope. Read-only: nothing is planned, nothing is written.
 *
 * A group is one content (SHA-256 and size) on one filesystem — or, with `--cross-device`, on
 * any — held by two or more distinct files (inodes) among the paths that pass. Paths that are
 * links of one inode are listed together; the first is the file, the others are marked as
 * sharing it. Savings are size × (files − 1): what keeping one copy of each group would free
 * (a plan may free less: pinned inodes, owners that differ, other filesystems).
 */
import type { DB } from '../catalog/open.js';
import {
  dupeGroupPage,
  dupePaths,
  prepareDupeGroups,
  type DupePath,
  type DupeRowFilter,
} from '../catalog/dupes.js';
import type { Member } from '../catalog/groups.js';
import type { DeviceRow } from '../catalog/devices.js';
import { Filters } from './filters.js';
import { prepareScope } from './plan.js';
import { Scope } from './scope.js';
import { visiblePathMapper } from './visible-path.js';

export interface DupeEntry {
  readonly deviceId: number;
  /** The path as the user sees it (a current mount point, else the last one). */
  readonly path: Buffer;
  readonly fsPath: Buffer;
  readonly inode: bigint;
  readonly nlink: number;
  /** 0 for the first path of its inode in the group, 1, 2, … for its other links. */
  readonly linkIndex: number;
  /** How many listed paths this inode has in the group. */
  readonly links: number;
}

export interface DupeGroup {
  /** 1, 2, … in listing order. */
  readonly no: number;
  readonly sha256: Buffer;
  readonly size: number;
  readonly files: number;
  readonly bytesSaveable: number;
  /** Distinct devices of the listed paths. */
  readonly devices: number;
  /** By inode (inodes in the order of their first path), each inode's paths together. */
  readonly entries: readonly DupeEntry[];
}

export interface DupesRequest {
  readonly device?: DeviceRow | undefined;
  readonly scope?: Scope;
  readonly filters?: Filters;
  readonly crossDevice: boolean;
  /** Groups to list (0 or undefined: all). */
  readonly limit?: number;
}

const PAGE = 500;

function toMember(p: DupePath, size: number): Member {
  // Filters.reject looks at size, mtime and the visible path only.
  return {
    fileId: 0,
    deviceId: p.deviceId,
    path: p.path,
    inode: p.inode,
    nlink: p.nlink,
    size,
    mtimeNs: p.mtimeNs,
    ctimeNs: 0n,
    mode: 0,
    uid: 0,
    gid: 0,
    sha256: null,
  };
}

/** Every group, largest savings first, one at a time. */
export function* iterateDupes(db: DB, req: DupesRequest): Generator<DupeGroup, void, undefined> {
  const filters = req.filters ?? Filters.none;
  const scope = req.scope ?? Scope.all;
  const rows: DupeRowFilter = {
    deviceId: req.device?.id,
    crossDevice: req.crossDevice,
    scoped: prepareScope(db, scope),
    minSize: filters.minSize,
    maxSize: filters.maxSize,
    mtimeSince: filters.since?.ns,
    mtimeBefore: filters.before?.ns,
  };
  prepareDupeGroups(db, rows);
  const globs = filters.include.length > 0 || filters.exclude.length > 0;
  const toVisible = visiblePathMapper(db);
  let no = 0;
  for (let after = 0; ;) {
    const page = dupeGroupPage(db, after, PAGE);
    if (page.length === 0) return;
    after = page[page.length - 1]!.rowId;
    for (const g of page) {
      let paths = dupePaths(db, g, rows).map((p) => ({ p, v: toVisible(p.deviceId, p.path) }));
      // Globs match the path as shown, which SQL does not know: the only filter applied here.
      if (globs) paths = paths.filter((x) => !filters.reject(toMember(x.p, g.size), x.v));
      const byInode = new Map<string, typeof paths>();
      for (const x of paths) {
        const key = `${x.p.deviceId}:${x.p.inode}`;
        const list = byInode.get(key);
        if (list) list.push(x);
        else byInode.set(key, [x]);
      }
      if (byInode.size < 2) continue;
      const inodes = [...byInode.values()].map((list) =>
        list.sort((a, b) => Buffer.compare(a.v, b.v)),
      );
      inodes.sort((a, b) => Buffer.compare(a[0]!.v, b[0]!.v));
      const entries = inodes.flatMap((list) =>
        list.map((x, i) => ({
          deviceId: x.p.deviceId,
          path: x.v,
          fsPath: x.p.path,
          inode: x.p.inode,
          nlink: x.p.nlink,
          linkIndex: i,
          links: list.length,
        })),
      );
      no++;
      yield {
        no,
        sha256: g.sha256,
        size: g.size,
        files: inodes.length,
        bytesSaveable: g.size * (inodes.length - 1),
        devices: new Set(entries.map((e) => e.deviceId)).size,
        entries,
      };
      if (req.limit && no >= req.limit) return;
    }
  }
}
