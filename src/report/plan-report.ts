/**
 * `conductor report`: a plan's summary and every one of its actions as JSON or CSV (HTML is in
 * html.ts). Rows are streamed from the catalog to the output; nothing holds the whole plan.
 */
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import type { PlanDeviceTotals, PlanGroupTotals } from '../catalog/plan-report.js';
import type { PlanRow } from '../catalog/plans.js';
import type { ActionRow } from '../catalog/actions.js';
import { planFilters } from '../catalog/plan-types.js';
import { actionLabel, type Mode } from '../conductor/mode.js';
import { metadataChanges } from '../conductor/metadata-change.js';
import { visiblePathMapper } from '../conductor/visible-path.js';
import { UserError } from '../errors.js';
import type { StoredScope } from '../catalog/scope.js';
import { scopeEntryJson } from '../conductor/scope.js';
import { jsonPath } from '../paths.js';
import type { HostView } from '../device-label.js';
import { deviceNames } from './device-names.js';
import { csvHeader, csvRow, jsonRow, pathColumns, unsignedInode, type Column } from './encode.js';
import type { Output } from './output.js';

export const REPORT_FORMATS = ['json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface PlanReport {
  readonly plan: PlanRow;
  /** hardlink, or reflink (its HARDLINK actions are shown as REFLINK). */
  readonly mode: Mode;
  readonly devices: readonly DeviceRow[];
  /** Who is looking: how devices are named (README "Several hosts"). */
  readonly view: HostView;
  /** Actions by type as shown (HARDLINK or REFLINK, NOOP, SKIP), zeros included. */
  readonly counts: Readonly<Record<string, number>>;
  readonly byStatus: Readonly<Record<string, number>>;
  /** SKIP actions by reason (the part before any ':'). */
  readonly skipReasons: Readonly<Record<string, number>>;
  readonly totalActions: number;
  /**
   * Bytes of inodes every planned link of which was replaced (0 before execution); for a
   * reflink plan, the planned own bytes of the target inodes whose every path was cloned.
   */
  readonly bytesFreed: number;
  readonly deviceTotals: readonly PlanDeviceTotals[];
  /** Targets that will show the kept copy's mtime once linked (show-plan's count). */
  readonly metadataChanges: number;
  readonly topGroups: readonly PlanGroupTotals[];
  readonly generatedAt: Date;
  /** The directories the plan was limited to (empty: not limited). */
  readonly scope: readonly StoredScope[];
}

export const TOP_GROUPS = 20;
/** Actions read from the catalog in one call. */
export const REPORT_PAGE = 1000;

/** The summary of a plan; a plan that does not exist is a usage error (exit 2). */
export async function loadPlanReport(
  catalog: Pick<Catalog, 'planReport'>,
  planId: number,
  view: HostView,
  topGroups = TOP_GROUPS,
): Promise<PlanReport> {
  const s = await catalog.planReport.summary({ planId, topGroups });
  if (!s) throw new UserError(`no plan with id ${planId}; 'hashall conductor plans' lists them`);
  const { plan, mode } = s;
  const replace = actionLabel(mode, 'HARDLINK');
  const counts: Record<string, number> = { [replace]: 0, NOOP: 0, SKIP: 0 };
  const byStatus: Record<string, number> = {};
  const skipReasons: Record<string, number> = {};
  let total = 0;
  for (const c of s.actionCounts) {
    const type = actionLabel(mode, c.type);
    counts[type] = (counts[type] ?? 0) + c.n;
    byStatus[c.status] = (byStatus[c.status] ?? 0) + c.n;
    if (c.type === 'SKIP') {
      const r = (c.reason ?? 'skipped').replace(/:.*/, '');
      skipReasons[r] = (skipReasons[r] ?? 0) + c.n;
    }
    total += c.n;
  }
  return {
    plan,
    mode,
    devices: s.devices,
    view,
    counts,
    byStatus,
    skipReasons,
    totalActions: total,
    bytesFreed: s.bytesFreed,
    deviceTotals: s.deviceTotals,
    metadataChanges: s.metadataChanges,
    topGroups: s.topGroups,
    generatedAt: new Date(),
    scope: s.scope,
  };
}

/** An action with its paths made absolute and its devices named: one report row. */
export interface ActionReportRow {
  readonly action: ActionRow;
  /** The type as shown: REFLINK for the replacements of a reflink plan. */
  readonly type: string;
  readonly source: Buffer;
  readonly target: Buffer;
  readonly device: string;
  readonly sourceDevice: string;
  /** The hosts whose mounts the target and source paths are under (null: none recorded). */
  readonly host: string | null;
  readonly sourceHost: string | null;
  /** What goes before the paths where listings name them: `nas1:` once the catalog knows several hosts, else ''. */
  readonly targetPrefix: string;
  readonly sourcePrefix: string;
  /** What the target's visible metadata will change in ('mtime', or '' for nothing). */
  readonly metadataChanges: string;
}

/**
 * The columns of a report row. `id, type, source, target, bytes, size, sha256, status, reason,
 * error` are show-plan's; the rest say which group, devices, keep rule and inodes.
 */
export const ACTION_COLUMNS: readonly Column<ActionReportRow>[] = [
  { name: 'id', get: (r) => r.action.id },
  { name: 'type', get: (r) => r.type },
  { name: 'status', get: (r) => r.action.status },
  { name: 'group', get: (r) => r.action.groupNo },
  { name: 'device', get: (r) => r.device },
  { name: 'source_device', get: (r) => r.sourceDevice },
  ...pathColumns<ActionReportRow>('source', (r) => r.source),
  ...pathColumns<ActionReportRow>('target', (r) => r.target),
  { name: 'bytes', get: (r) => r.action.bytes },
  { name: 'size', get: (r) => r.action.size },
  { name: 'sha256', get: (r) => (r.action.groupHash ? r.action.groupHash.toString('hex') : null) },
  { name: 'reason', get: (r) => r.action.reason },
  { name: 'error', get: (r) => r.action.error },
  { name: 'keep_rule', get: (r) => r.action.keepRule },
  { name: 'metadata_changes', get: (r) => r.metadataChanges },
  { name: 'undo_status', get: (r) => r.action.undoStatus ?? null },
  { name: 'source_inode', get: (r) => unsignedInode(r.action.sourceInode) },
  { name: 'target_inode', get: (r) => unsignedInode(r.action.targetInode) },
  // Added with hosts, after the others (scripts reading CSV columns by position still work).
  { name: 'host', get: (r) => r.host },
  { name: 'source_host', get: (r) => r.sourceHost },
];

export function reportRowMapper(
  devices: readonly DeviceRow[],
  view: HostView,
  mode: Mode = 'hardlink',
): (a: ActionRow) => ActionReportRow {
  const toAbs = visiblePathMapper(devices);
  const names = deviceNames(devices, view);
  return (a) => {
    const source = toAbs(a.sourceDeviceId, a.sourcePath);
    const target = toAbs(a.deviceId, a.targetPath);
    return {
      action: a,
      type: actionLabel(mode, a.type),
      source,
      target,
      device: names.alias(a.deviceId),
      sourceDevice: names.alias(a.sourceDeviceId),
      host: names.host(a.deviceId)?.hostname ?? null,
      sourceHost: names.host(a.sourceDeviceId)?.hostname ?? null,
      targetPrefix: names.prefix(a.deviceId),
      sourcePrefix: names.prefix(a.sourceDeviceId),
      metadataChanges: metadataChanges(mode, a).join(','),
    };
  };
}

/** The summary as JSON keys: show-plan's header keys plus the report's aggregates. */
export function summaryJson(r: PlanReport): Record<string, unknown> {
  const p = r.plan;
  const byId = new Map(r.devices.map((d) => [d.id, d]));
  const names = deviceNames(r.devices, r.view);
  const alias = names.alias;
  const stored = planFilters(p.options);
  return {
    id: p.id,
    name: p.name,
    status: p.status,
    mode: r.mode,
    created_at: new Date(p.createdAt).toISOString(),
    executed_at: p.executedAt ? new Date(p.executedAt).toISOString() : null,
    generated_at: r.generatedAt.toISOString(),
    options: { ...p.options, keep_rules: stored.keepRules, filters: stored.filters },
    keep: stored.keepRules,
    filters: stored.filters,
    scope: r.scope.map((e) => scopeEntryJson(e, byId.get(e.deviceId)?.alias)),
    opportunities: p.opportunities,
    bytes_saveable: p.bytesSaveable,
    metadata_changes: r.metadataChanges,
    bytes_freed: r.bytesFreed,
    pending_groups: p.pendingGroups,
    action_count: r.totalActions,
    counts: r.counts,
    by_status: r.byStatus,
    skip_reasons: r.skipReasons,
    devices: r.deviceTotals.map((t) => {
      const d = byId.get(t.deviceId);
      const mountPoint = names.mountPoint(t.deviceId);
      const host = names.host(t.deviceId);
      return {
        id: t.deviceId,
        alias: alias(t.deviceId),
        identity: d?.identity ?? null,
        ...(mountPoint ? jsonPath('mount_point', mountPoint) : { mount_point: null }),
        actions: t.actions,
        hardlinks: t.hardlinks,
        noop: t.noop,
        skip: t.skip,
        bytes_saveable: t.bytesSaveable,
        // The host whose mount `mount_point` is, and the device as listings name it.
        host: host?.hostname ?? null,
        machine_id: host?.machineId ?? null,
        label: names.label(t.deviceId),
      };
    }),
    top_groups: r.topGroups.map((g) => ({
      group: g.groupNo,
      device: alias(g.deviceId),
      host: names.host(g.deviceId)?.hostname ?? null,
      sha256: g.sha256 ? g.sha256.toString('hex') : null,
      size: g.size,
      actions: g.actions,
      hardlinks: g.hardlinks,
      bytes_saveable: g.bytesSaveable,
    })),
  };
}

/**
 * One JSON document: the summary keys, then `actions`, one action per line, in execution
 * order (by id). Returns the number of actions written.
 */
export async function writePlanJson(
  catalog: Pick<Catalog, 'planReport'>,
  r: PlanReport,
  out: Output,
): Promise<number> {
  const head = JSON.stringify(summaryJson(r), null, 2);
  await out.write(`${head.slice(0, head.lastIndexOf('}')).trimEnd()},\n  "actions": [`);
  const toRow = reportRowMapper(r.devices, r.view, r.mode);
  let n = 0;
  for await (const page of executionOrder(catalog, r)) {
    for (const a of page) {
      const p = out.write(`${n === 0 ? '\n' : ',\n'}    ${jsonRow(ACTION_COLUMNS, toRow(a))}`);
      n++;
      if (p) await p;
    }
  }
  await out.write(n === 0 ? ']\n}\n' : '\n  ]\n}\n');
  return n;
}

/** RFC 4180 CSV: a header row, then one record per action in execution order. */
export async function writePlanCsv(
  catalog: Pick<Catalog, 'planReport'>,
  r: PlanReport,
  out: Output,
): Promise<number> {
  await out.write(csvHeader(ACTION_COLUMNS));
  const toRow = reportRowMapper(r.devices, r.view, r.mode);
  let n = 0;
  for await (const page of executionOrder(catalog, r)) {
    for (const a of page) {
      const p = out.write(csvRow(ACTION_COLUMNS, toRow(a)));
      n++;
      if (p) await p;
    }
  }
  return n;
}

/** Every action of the plan by id (group by group), a page at a time. */
function executionOrder(
  catalog: Pick<Catalog, 'planReport'>,
  r: PlanReport,
): AsyncIterable<readonly ActionRow[]> {
  return catalog.planReport.actions({
    planId: r.plan.id,
    order: { kind: 'execution' },
    pageSize: REPORT_PAGE,
  });
}
