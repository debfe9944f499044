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
import type { Catalog } from '../catalog/port.js';
import type { DupePath, DupeGroupKey } from '../catalog/dupes.js';
import type { DupeGroupRows, DupesQuery } from '../catalog/query-port.js';
import type { Member } from '../catalog/groups.js';
import type { DeviceRow } from '../catalog/devices.js';
import { Filters } from './filters.js';
import { Scope } from './scope.js';
import { visiblePathMapper } from './visible-path.js';
import { rowScope } from './group-view.js';

/** The concerns the dupes listing reads. */
export type DupesCatalog = Pick<Catalog, 'dupes' | 'devices'>;

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
/** Paths of a page past its first group: a page of large groups stays small. */
const PAGE_PATHS = 10_000;

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

interface Built {
  readonly key: DupeGroupKey;
  readonly entries: DupeEntry[];
  readonly files: number;
  readonly saving: number;
}

/** A max-heap by savings, then by listing order (row id): what waits for its turn. */
class Waiting {
  private readonly items: Built[] = [];
  private before(a: Built, b: Built): boolean {
    return a.saving > b.saving || (a.saving === b.saving && a.key.rowId < b.key.rowId);
  }
  get top(): Built | undefined {
    return this.items[0];
  }
  push(x: Built): void {
    const h = this.items;
    h.push(x);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Built | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Every group, largest savings first, in pages. SQL orders the groups by their savings
 * before the globs (which only SQL cannot apply); a group the globs shrink waits in a heap
 * until no later group can save more (SQL's figure bounds every later group's), so the
 * listing is in exact order. Only such shrunken groups are held, with their paths.
 */
export async function* iterateDupes(
  catalog: DupesCatalog,
  req: DupesRequest,
): AsyncGenerator<readonly DupeGroup[], void, undefined> {
  const filters = req.filters ?? Filters.none;
  const scope = req.scope ?? Scope.all;
  const query: DupesQuery = {
    deviceId: req.device?.id,
    crossDevice: req.crossDevice,
    scope: rowScope(scope),
    minSize: filters.minSize,
    maxSize: filters.maxSize,
    mtimeSince: filters.since?.ns,
    mtimeBefore: filters.before?.ns,
  };
  const toVisible = visiblePathMapper(await catalog.devices.list());
  const listing = await catalog.dupes.prepare(query);
  const globs = filters.include.length > 0 || filters.exclude.length > 0;

  const build = ({ key: g, paths: found }: DupeGroupRows): Built | undefined => {
    let paths = found.map((p) => ({ p, v: toVisible(p.deviceId, p.path) }));
    // Globs match the path as shown, which SQL does not know: the only filter applied here.
    if (globs) paths = paths.filter((x) => !filters.reject(toMember(x.p, g.size), x.v));
    const byInode = new Map<string, typeof paths>();
    for (const x of paths) {
      const k = `${x.p.deviceId}:${x.p.inode}`;
      const list = byInode.get(k);
      if (list) list.push(x);
      else byInode.set(k, [x]);
    }
    if (byInode.size < 2) return undefined;
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
    return { key: g, entries, files: inodes.length, saving: g.size * (inodes.length - 1) };
  };

  let no = 0;
  const emit = (b: Built): DupeGroup => ({
    no: ++no,
    sha256: b.key.sha256,
    size: b.key.size,
    files: b.files,
    bytesSaveable: b.saving,
    devices: new Set(b.entries.map((e) => e.deviceId)).size,
    entries: b.entries,
  });
  const done = () => req.limit !== undefined && req.limit > 0 && no >= req.limit;
  const waiting = new Waiting();
  // Groups leave a catalog page at a time (one await per page, not per group).
  let out: DupeGroup[] = [];
  for (let after = 0; !done();) {
    const page = await listing.page({ afterRowId: after, groups: PAGE, paths: PAGE_PATHS });
    if (page.length === 0) break;
    after = page[page.length - 1]!.key.rowId;
    for (const rows of page) {
      const g = rows.key;
      const bound = g.size * (g.files - 1);
      while (waiting.top && waiting.top.saving >= bound && !done()) out.push(emit(waiting.pop()!));
      if (done()) break;
      const b = build(rows);
      if (!b) continue;
      // The usual case: nothing filtered away, nothing waiting.
      if (b.saving === bound && !waiting.top) out.push(emit(b));
      else waiting.push(b);
      if (done()) break;
    }
    if (out.length > 0) yield out;
    out = [];
  }
  for (let b = waiting.pop(); b && !done(); b = waiting.pop()) out.push(emit(b));
  if (out.length > 0) yield out;
}
