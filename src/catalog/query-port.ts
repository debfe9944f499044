/**
 * The catalog as the read side sees it: duplicate groups for analyze and status, the dupes
 * listing, catalog and device figures, the export of every file, and a plan's report. Nothing
 * here writes a catalogued row.
 *
 * Long listings never come whole: a grouping is first *prepared* (SQLite materialises it in a
 * temporary table, in listing order) and then read a page at a time after a row id; the export
 * and a plan's actions come as an AsyncIterable of pages read from one cursor. Memory is that
 * of a page, however large the catalog. A prepared grouping lives on the connection: preparing
 * the same kind again replaces it, and a cursor listing must end (or be left with `break`)
 * before other catalog work starts.
 */
import { type ReplaceMode, replaceMode } from './action-decode.js';
import type { DB } from './db.js';
import { listDevices, type DeviceRow, type DeviceUsage } from './devices.js';
import { storedDeviceUsage } from './usage-totals.js';
import {
  contentMembers,
  crossGroupPage,
  emptyFileCounts,
  groupMembers,
  hardlinkStats,
  prepareCrossDeviceGroups,
  prepareSameDeviceGroups,
  sameGroupPage,
  type CrossKey,
  type GroupKey,
  type Member,
} from './groups.js';
import {
  dupeGroupPage,
  dupePaths,
  prepareDupeGroups,
  type DupeGroupKey,
  type DupePath,
  type DupeRowFilter,
} from './dupes.js';
import type { GroupingSource } from './group-totals.js';
import type { GroupClasses, OneClassTotals } from './groups.js';
import { catalogStats, integrityProblems, type CatalogStats } from './stats.js';
import { iterateActiveFiles, type ExportFileRow } from './file-export.js';
import {
  iterateActionsById,
  iterateTopActions,
  planDeviceTotals,
  planTopGroups,
  type PlanDeviceTotals,
  type PlanGroupTotals,
} from './plan-report.js';
import { prepareScopeDirs, planScope, type ScopeDir, type StoredScope } from './scope.js';
import { actionCounts, bytesFreed, type ActionRow } from './actions.js';
import { getPlan, type PlanRow } from './plans.js';
import { bytesShared } from './clones.js';
import { countMetadataChanges } from './metadata-changes.js';

/** Which rows take part: every catalogued row, or those at or below some directories. */
export type RowScope =
  { readonly kind: 'all' } | { readonly kind: 'dirs'; readonly dirs: readonly ScopeDir[] };

export type { GroupingSource } from './group-totals.js';
export type { GroupClasses, OneClassTotals } from './groups.js';

export const ALL_ROWS: RowScope = { kind: 'all' };

/** What a grouping counts: one device or all, and a scope. */
export interface GroupQuery {
  readonly deviceId?: number | undefined;
  readonly scope: RowScope;
}

/** A prepared listing read a page at a time: the rows after a row id, in listing order. */
export interface Paged<Row> {
  page(afterRowId: number, limit: number): Promise<readonly Row[]>;
}

export interface SameDeviceGroups extends Paged<GroupKey> {
  readonly groups: number;
  /** SQL's figure: what keeping a pinned inode (else any) of each group frees. */
  readonly saveable: number;
  readonly pinnedInodes: number;
  /**
   * The groups of one class, counted where they are: for them SQL's figure is what a plan
   * that keeps a pinned inode first frees, so analyze need not read them one by one.
   */
  readonly oneClass: OneClassTotals;
  /** Only the groups of one class, or of several, in listing order (row ids skip the others). */
  pageOf(classes: GroupClasses, afterRowId: number, limit: number): Promise<readonly GroupKey[]>;
  /**
   * How the groups were obtained (stored totals, with how many changed keys regrouped, or every
   * row grouped); a backend without stored totals may leave it out.
   */
  readonly source?: GroupingSource;
}

export interface CrossDeviceGroups extends Paged<CrossKey> {
  readonly groups: number;
  /** size × (devices − 1) over the contents. */
  readonly bytes: number;
}

export interface HardlinkTotals {
  readonly sharedPaths: number;
  readonly inodes: number;
  readonly bytesSaved: number;
}

/** Duplicate groups and their members: what analyze and status plan over. */
export interface GroupQueries {
  /** Same-device groups, largest saving first. */
  sameDevice(q: GroupQuery): Promise<SameDeviceGroups>;
  /** Contents on two or more devices (and on q.deviceId, when given), largest first. */
  crossDevice(q: GroupQuery): Promise<CrossDeviceGroups>;
  /** The active paths of each same-device group, in the order given (one call per page). */
  members(groups: readonly Pick<GroupKey, 'deviceId' | 'sha256' | 'size'>[]): Promise<Member[][]>;
  /** The active paths of each content on any device, in the order given. */
  contentMembers(contents: readonly Pick<CrossKey, 'sha256' | 'size'>[]): Promise<Member[][]>;
  /** Active empty files (never linked: linking them frees nothing). */
  emptyFiles(q: GroupQuery): Promise<number>;
  /** Paths that share an inode, and the bytes those extra links already save. */
  hardlinks(q: { readonly deviceId?: number | undefined }): Promise<HardlinkTotals>;
}

/** `hashall dupes`: which rows may form groups (size and mtime bounds are applied in SQL). */
export interface DupesQuery extends Omit<DupeRowFilter, 'scoped'> {
  readonly scope: RowScope;
}

/** A group of the dupes listing with the paths that passed, by device, inode, then path. */
export interface DupeGroupRows {
  readonly key: DupeGroupKey;
  readonly paths: readonly DupePath[];
}

export interface DupeListing {
  readonly groups: number;
  /**
   * The groups after a row id with their paths: at most `groups` groups and, past the first
   * group, at most `paths` paths in all (a page of large groups stays small).
   */
  page(q: {
    readonly afterRowId: number;
    readonly groups: number;
    readonly paths: number;
  }): Promise<readonly DupeGroupRows[]>;
}

export interface DupeQueries {
  /** Groups in listing order: largest savings, size × (files − 1), first. */
  prepare(q: DupesQuery): Promise<DupeListing>;
}

/**
 * Catalog-wide and per-device figures (stats, analyze, status). The device list, pending
 * candidates and last scans are the scan port's (`devices.list`, `hashing.pending`,
 * `scans.lastPerRoot`).
 */
export interface StatsQueries {
  catalog(): Promise<CatalogStats>;
  deviceUsage(): Promise<Map<number, DeviceUsage>>;
  /** Problems an integrity check finds (reads the whole catalog); empty when sound. */
  integrityProblems(q: { readonly max: number }): Promise<string[]>;
}

export interface ExportQueries {
  /** Every active file (of one device, when given) by device, directory path, name. */
  files(q: {
    readonly deviceId?: number | undefined;
    readonly pageSize: number;
  }): AsyncIterable<readonly ExportFileRow[]>;
}

/** What a plan's report shows above its actions. */
export interface PlanSummary {
  readonly plan: PlanRow;
  readonly mode: ReplaceMode;
  readonly devices: DeviceRow[];
  readonly actionCounts: ReturnType<typeof actionCounts>;
  /** Executed savings: whole inodes freed (hardlink) or bytes now shared (reflink). */
  readonly bytesFreed: number;
  readonly deviceTotals: PlanDeviceTotals[];
  /** Targets that will show the kept copy's mtime once linked (0 for a reflink plan). */
  readonly metadataChanges: number;
  readonly topGroups: PlanGroupTotals[];
  readonly scope: StoredScope[];
}

/** The order a report lists a plan's actions in. */
export type ActionOrder =
  | { readonly kind: 'execution' }
  /** show-plan's: HARDLINK by bytes, then NOOP, then SKIP; the first `limit` only. */
  | { readonly kind: 'top'; readonly limit: number };

export interface PlanReportQueries {
  /** undefined when there is no such plan. */
  summary(q: {
    readonly planId: number;
    readonly topGroups: number;
  }): Promise<PlanSummary | undefined>;
  actions(q: {
    readonly planId: number;
    readonly order: ActionOrder;
    readonly pageSize: number;
  }): AsyncIterable<readonly ActionRow[]>;
}

export interface QueryCatalog {
  readonly groups: GroupQueries;
  readonly dupes: DupeQueries;
  readonly stats: StatsQueries;
  readonly export: ExportQueries;
  readonly planReport: PlanReportQueries;
}

/** Restrict the grouping queries to the scope's directories; true when there is a scope. */
function applyScope(db: DB, scope: RowScope): boolean {
  if (scope.kind === 'all') return false;
  prepareScopeDirs(db, scope.dirs);
  return true;
}

/**
 * A synchronous cursor as pages. The generator's return closes the cursor when the caller
 * leaves early (break, throw), which frees the connection for other statements.
 */
async function* pagesOf<T>(
  open: () => Iterator<T>,
  pageSize: number,
): AsyncGenerator<readonly T[], void, undefined> {
  const size = Math.max(1, pageSize);
  const it = open();
  try {
    for (;;) {
      const page: T[] = [];
      for (let r = it.next(); !r.done; r = it.next()) {
        page.push(r.value);
        if (page.length >= size) break;
      }
      if (page.length === 0) return;
      yield page;
      if (page.length < size) return;
    }
  } finally {
    it.return?.();
  }
}

function groupOps(db: DB): GroupQueries {
  return {
    sameDevice: (q) => {
      const t = prepareSameDeviceGroups(db, q.deviceId, applyScope(db, q.scope));
      return Promise.resolve({
        groups: t.groups,
        saveable: t.saveable,
        pinnedInodes: t.pinnedInodes,
        source: t.source,
        oneClass: t.oneClass,
        page: (after, limit) => Promise.resolve(sameGroupPage(db, after, limit)),
        pageOf: (classes, after, limit) =>
          Promise.resolve(sameGroupPage(db, after, limit, { classes })),
      });
    },
    crossDevice: (q) => {
      const t = prepareCrossDeviceGroups(db, q.deviceId, applyScope(db, q.scope));
      return Promise.resolve({
        groups: t.groups,
        bytes: t.bytes,
        page: (after, limit) => Promise.resolve(crossGroupPage(db, after, limit)),
      });
    },
    members: (groups) =>
      Promise.resolve(groups.map((g) => groupMembers(db, g.deviceId, g.sha256, g.size))),
    contentMembers: (contents) =>
      Promise.resolve(contents.map((c) => contentMembers(db, c.sha256, c.size))),
    emptyFiles: (q) => {
      let n = 0;
      for (const c of emptyFileCounts(db, q.deviceId, applyScope(db, q.scope)).values()) n += c;
      return Promise.resolve(n);
    },
    hardlinks: (q) => Promise.resolve(hardlinkStats(db, q.deviceId)),
  };
}

function dupeOps(db: DB): DupeQueries {
  return {
    prepare: (q) => {
      const { scope, ...bounds } = q;
      const filter: DupeRowFilter = { ...bounds, scoped: applyScope(db, scope) };
      const groups = prepareDupeGroups(db, filter);
      return Promise.resolve({
        groups,
        page: ({ afterRowId, groups: most, paths: budget }) => {
          const out: DupeGroupRows[] = [];
          let paths = 0;
          for (const key of dupeGroupPage(db, afterRowId, most)) {
            // key.paths counts exactly the rows dupePaths returns: stop before the budget.
            if (out.length > 0 && paths + key.paths > budget) break;
            out.push({ key, paths: dupePaths(db, key, filter) });
            paths += key.paths;
          }
          return Promise.resolve(out);
        },
      });
    },
  };
}

function statsOps(db: DB): StatsQueries {
  return {
    catalog: () => Promise.resolve(catalogStats(db)),
    deviceUsage: () => Promise.resolve(storedDeviceUsage(db)),
    integrityProblems: (q) => Promise.resolve(integrityProblems(db, q.max)),
  };
}

function planReportOps(db: DB): PlanReportQueries {
  return {
    summary: ({ planId, topGroups }) => {
      const plan = getPlan(db, planId);
      if (!plan) return Promise.resolve(undefined);
      const mode = replaceMode(plan);
      return Promise.resolve({
        plan,
        mode,
        devices: listDevices(db),
        actionCounts: actionCounts(db, planId),
        bytesFreed: mode === 'reflink' ? bytesShared(db, planId) : bytesFreed(db, planId),
        deviceTotals: planDeviceTotals(db, planId),
        // A reflink clone keeps the target's own metadata: nothing visible changes.
        metadataChanges: mode === 'hardlink' ? countMetadataChanges(db, planId) : 0,
        topGroups: planTopGroups(db, planId, topGroups),
        scope: planScope(db, planId),
      });
    },
    actions: ({ planId, order, pageSize }) =>
      pagesOf(
        () =>
          order.kind === 'execution'
            ? iterateActionsById(db, planId)
            : iterateTopActions(db, planId, order.limit),
        pageSize,
      ),
  };
}

export function queryOps(db: DB): QueryCatalog {
  return {
    groups: groupOps(db),
    dupes: dupeOps(db),
    stats: statsOps(db),
    export: {
      files: ({ deviceId, pageSize }) => pagesOf(() => iterateActiveFiles(db, deviceId), pageSize),
    },
    planReport: planReportOps(db),
  };
}
