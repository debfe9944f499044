import { Command, InvalidArgumentError } from 'commander';
import { createInterface } from 'node:readline/promises';
import type { DB } from '../../catalog/open.js';
import { listDevices, type DeviceRow } from '../../catalog/devices.js';
import {
  actionCounts,
  getPlan,
  listPlans,
  topActions,
  type ActionRow,
  type PlanRow,
} from '../../catalog/plans.js';
import { analyze, status } from '../../conductor/analyze.js';
import { resolveWholeDevice } from '../../conductor/device-scope.js';
import { argBytes } from '../raw-argv.js';
import type { ExecuteSummary, Verify } from '../../conductor/execute.js';
import { describeFilters } from '../../conductor/filters.js';
import { keepRuleText } from '../../conductor/keep-rules.js';
import { MODES, actionLabel, planMode, type Mode } from '../../conductor/mode.js';
import { createPlan, type PlanResult } from '../../conductor/plan.js';
import { recoveryPending, withExecutorRun } from '../../conductor/run.js';
import { EXIT, UserError } from '../../errors.js';
import { displayPath } from '../../display-path.js';
import { jsonPath } from '../../paths.js';
import { visiblePathMapper } from '../../conductor/visible-path.js';
import { open, printJson, say, warn, withGlobals, type GlobalOptions } from '../context.js';
import { countOf, formatBytes, formatCount, formatTime, table } from '../format.js';
import { styleFor, type Style } from '../style.js';
import { registerAutoExecute } from './auto-execute.js';
import {
  parseFilterOpts,
  planFilters,
  withFilterOptions,
  type FilterOpts,
} from '../filter-options.js';
import { deviceJson } from './devices.js';
import {
  metadataChanges,
  mtimeText,
  planMetadataChanges,
} from '../../conductor/metadata-change.js';
import { deviceAndScope, PATHS_HELP } from '../scope-args.js';
import { describeScope, scopeEntryJson } from '../../conductor/scope.js';
import { planScope } from '../../catalog/scope.js';
import { registerReport } from './report.js';
import { registerUndo } from './undo.js';
import { warnRecovery } from '../render/recovery.js';
import { SMALL_PLAN, runPlan } from './run-plan.js';

const BOX = '═'.repeat(62);
const THIN = '─'.repeat(64);

function parseLimit(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 1_000_000_000) {
    throw new InvalidArgumentError('give a whole number from 0 (everything) upwards');
  }
  return n;
}

function parsePlanId(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('a plan id is a positive whole number');
  return n;
}

function parseBool(v: string | boolean | undefined): boolean {
  if (v === undefined || v === true) return true;
  if (v === false) return false;
  const s = String(v).toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(s)) return true;
  if (['false', 'no', '0', 'off'].includes(s)) return false;
  throw new InvalidArgumentError('use true or false, e.g. --same-device=false');
}

function parseMode(v: string): Mode {
  if (!(MODES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`use one of: ${MODES.join(', ')}`);
  return v as Mode;
}

function parseVerify(v: string): Verify {
  if (v !== 'bytes' && v !== 'hash') throw new InvalidArgumentError("use 'bytes' or 'hash'");
  return v;
}

function deviceOption(db: DB, arg: string | undefined): DeviceRow | undefined {
  return arg === undefined
    ? undefined
    : resolveWholeDevice(
        db,
        argBytes(arg),
        "for that directory's duplicates: 'hashall conductor analyze DIR' or 'hashall dupes DIR'",
      );
}

function hex(b: Buffer | null, n = 12): string {
  return b ? `${b.toString('hex').slice(0, n)}...` : '(hardlinks)';
}

// --- analyze -----------------------------------------------------------------------------

interface AnalyzeOpts extends GlobalOptions, FilterOpts {
  device?: string;
  crossDevice?: boolean;
  limit: number;
}

function registerAnalyze(conductor: Command): void {
  withGlobals(
    withFilterOptions(
      conductor
        .command('analyze')
        .description('find deduplication opportunities in the catalog')
        .argument('[paths...]', PATHS_HELP)
        .option(
          '--device <path>',
          'only this filesystem (its mount point or alias; a directory inside it: only that directory)',
        )
        .option('--cross-device', 'also list contents duplicated across filesystems')
        .option('--limit <n>', 'groups to list per section (0: all)', parseLimit, 10),
    ),
  ).action((paths: string[], opts: AnalyzeOpts) => {
    const { filters, keep } = parseFilterOpts(opts);
    const { db } = open(opts, { readonly: true });
    try {
      const { device, scope } = deviceAndScope(db, opts.device, paths);
      const a = analyze(db, {
        ...(device ? { device } : {}),
        crossDevice: opts.crossDevice ?? false,
        limit: opts.limit || -1,
        keep,
        filters,
        scope,
      });
      const keepText = keep.map(keepRuleText);
      if (opts.json) {
        printJson({
          keep: keepText,
          filters: filters.toJson(),
          scope: scope.toJson(),
          devices: a.devices.map((d) => deviceJson(d.device, d.usage)),
          same_device: {
            groups: a.sameDevice.groups,
            bytes_saveable: a.sameDevice.bytesSaveable,
            pinned_inodes: a.sameDevice.pinnedInodes,
            blocked_groups: a.sameDevice.blockedGroups,
            top: a.sameDevice.top.map((g) => ({
              device: a.devices.find((d) => d.device.id === g.deviceId)?.device.alias ?? g.deviceId,
              sha256: g.sha256.toString('hex'),
              size: g.size,
              inodes: g.inodes,
              paths: g.paths,
              pinned: g.pinned,
              bytes_saveable: g.saveable,
            })),
          },
          cross_device: a.crossDevice
            ? {
                groups: a.crossDevice.groups,
                bytes: a.crossDevice.bytes,
                top: a.crossDevice.top.map((g) => ({
                  sha256: g.sha256.toString('hex'),
                  size: g.size,
                  devices: g.devices,
                  copies: g.copies,
                })),
              }
            : { groups: 0, bytes: 0, top: [] },
          pending: a.pending,
          empty_files: a.emptyFiles,
        });
        return;
      }
      const st = styleFor();
      const lines: string[] = [];
      const filterText = describeFilters(filters.toJson());
      const scopeText = describeScope(scope.entries);
      if (scopeText) lines.push(st.deco('📁', `Scope: ${scopeText}`));
      if (filterText) lines.push(st.deco('🔎', `Filters: ${filterText}`));
      if (scopeText || filterText) lines.push('');
      lines.push(st.deco('📊', 'Registered Devices:'));
      const width = Math.max(8, ...a.devices.map((d) => displayPath(d.device.mountPoint).length));
      for (const d of a.devices) {
        lines.push(
          `  ${displayPath(d.device.mountPoint).padEnd(width)}  (${d.device.alias}) - ${countOf(d.usage?.files ?? 0, 'file')}, ${formatBytes(d.usage?.bytes ?? 0)}`,
        );
      }
      lines.push('', st.deco('🔍', 'Same-device deduplication opportunities:'));
      if (a.sameDevice.groups === 0) lines.push('  none');
      for (const d of a.devices) {
        const groups = a.sameDevice.top.filter((g) => g.deviceId === d.device.id);
        if (groups.length === 0) continue;
        lines.push(`  ${displayPath(d.device.mountPoint)}:`);
        for (const g of groups) {
          lines.push(
            `    ${hex(g.sha256)} - ${countOf(g.inodes, 'inode')}, ${countOf(g.paths, 'path')}, save ${formatBytes(g.saveable)}${g.pinned ? ` (${formatCount(g.pinned)} pinned)` : ''}`,
          );
        }
      }
      lines.push(
        `  Total: ${countOf(a.sameDevice.groups, 'group')}, ${formatBytes(a.sameDevice.bytesSaveable)} saveable (${formatCount(a.sameDevice.bytesSaveable)} bytes)`,
      );
      if (a.sameDevice.blockedGroups) {
        lines.push(
          `  ${countOf(a.sameDevice.blockedGroups, 'more group')} cannot be linked (pinned, ${scope.active ? 'linked outside the scope, ' : ''}${filters.perPath ? 'filtered, ' : ''}or owner/group/mode differ)`,
        );
      }
      if (a.sameDevice.pinnedInodes) {
        lines.push(
          `  ${countOf(a.sameDevice.pinnedInodes, 'inode')} ${a.sameDevice.pinnedInodes === 1 ? 'is' : 'are'} pinned by links outside the catalog${scope.active ? ' or the scope' : ''}: ${a.sameDevice.pinnedInodes === 1 ? 'it frees' : 'they free'} nothing`,
        );
      }
      if (a.crossDevice) {
        lines.push('', st.deco('🌐', 'Cross-device duplicate files:'));
        if (a.crossDevice.groups === 0) lines.push('  none');
        for (const g of a.crossDevice.top) {
          lines.push(
            `  ${hex(g.sha256)} - ${formatBytes(g.size)} × ${countOf(g.copies, 'copy')} across ${countOf(g.devices, 'device')}`,
          );
        }
        lines.push(
          `  Total: ${formatCount(a.crossDevice.groups)} ${a.crossDevice.groups === 1 ? 'content' : 'contents'}, ${formatBytes(a.crossDevice.bytes)} in extra copies (never hardlinked)`,
        );
      }
      if (a.pending)
        lines.push(
          '',
          st.deco(
            '⏳',
            `Pending: ${countOf(a.pending, 'candidate inode')} still ${a.pending === 1 ? 'needs' : 'need'} hashing (offline or unreadable); rescan to include them`,
          ),
        );
      say(opts, lines.join('\n'));
    } finally {
      db.close();
    }
  });
}

// --- plan --------------------------------------------------------------------------------

interface PlanOpts extends GlobalOptions, FilterOpts {
  device?: string;
  sameDevice: boolean;
  crossDevice: boolean;
  mode: Mode;
}

/** What a reflink plan adds to plan's output: filesystems without reflinks, estimates. */
function reflinkJson(r: PlanResult['reflink']): Record<string, unknown> {
  if (!r) return {};
  return {
    reflink_unsupported: r.unsupported.map((u) => ({
      device: u.device.alias,
      ...jsonPath('mount_point', u.device.mountPoint),
      fs_type: u.device.fsType,
      reason: u.reason,
      groups_not_planned: u.groups,
    })),
    savings_estimated: r.estimated,
  };
}

function reflinkLines(r: PlanResult['reflink'], st: Style): string[] {
  if (!r) return [];
  const lines = r.unsupported.map((u) =>
    st.status(
      'warning',
      `No reflinks on ${displayPath(u.device.mountPoint)} (${u.device.alias}, ${u.device.fsType}): ${u.reason}; nothing planned there (${countOf(u.groups, 'group')}; --mode hardlink can link them)`,
    ),
  );
  if (r.estimated) {
    lines.push(
      `   ${countOf(r.estimated, 'file')} priced by their size: ${r.fiemap ? 'FIEMAP could not read their block maps' : 'filefrag (e2fsprogs) is not installed, so block sharing was not checked'}`,
    );
  }
  return lines;
}

function countsJson(counts: ReturnType<typeof actionCounts>): Record<string, number> {
  const out: Record<string, number> = { HARDLINK: 0, NOOP: 0, SKIP: 0 };
  for (const c of counts) out[c.type] = (out[c.type] ?? 0) + c.n;
  return out;
}

/** Counts by type as users see them: a reflink plan has REFLINK actions, not HARDLINK ones. */
function countsFor(mode: Mode, byType: Record<string, number>): Record<string, number> {
  if (mode === 'hardlink') return byType;
  const { HARDLINK, ...rest } = byType;
  return { REFLINK: HARDLINK ?? 0, ...rest };
}

function skipReasons(counts: ReturnType<typeof actionCounts>): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of counts) {
    if (c.type !== 'SKIP') continue;
    const r = (c.reason ?? 'skipped').replace(/:.*/, '');
    m.set(r, (m.get(r) ?? 0) + c.n);
  }
  return m;
}

function registerPlan(conductor: Command): void {
  withGlobals(
    withFilterOptions(
      conductor
        .command('plan')
        .description('create a deduplication plan (changes nothing on disk)')
        .argument('<name>', 'a human-readable plan name')
        .argument('[paths...]', PATHS_HELP)
        .option(
          '--device <path>',
          'only this filesystem (its mount point or alias; a directory inside it: only that directory); default: all',
        )
        .option(
          '--same-device [bool]',
          'include same-device hardlink opportunities',
          parseBool,
          true,
        )
        .option(
          '--cross-device [bool]',
          'record cross-device duplicates as informational SKIP actions',
          parseBool,
          false,
        )
        .option(
          '--mode <mode>',
          'replace duplicates with hardlinks, or with copy-on-write clones (reflink: btrfs, XFS)',
          parseMode,
          'hardlink',
        ),
    ),
  ).action((name: string, paths: string[], opts: PlanOpts) => {
    if (!name.trim()) throw new UserError('a plan needs a name');
    const { filters, keep } = parseFilterOpts(opts);
    const { db } = open(opts);
    try {
      const { device, scope } = deviceAndScope(db, opts.device, paths);
      const result = createPlan(db, {
        name,
        ...(device ? { device } : {}),
        scope,
        sameDevice: opts.sameDevice,
        crossDevice: opts.crossDevice,
        keep,
        filters,
        mode: opts.mode,
      });
      const { plan, counts } = result;
      const mode = planMode(plan);
      const byType = countsJson(counts);
      const stored = planFilters(plan.options);
      const filterText = describeFilters(stored.filters);
      if (opts.json) {
        printJson({
          id: plan.id,
          name: plan.name,
          status: plan.status,
          mode,
          keep: stored.keepRules,
          filters: stored.filters,
          scope: scope.toJson(),
          opportunities: plan.opportunities,
          bytes_saveable: plan.bytesSaveable,
          actions: countsFor(mode, byType),
          skip_reasons: Object.fromEntries(skipReasons(counts)),
          metadata_changes: planMetadataChanges(db, plan),
          pending: plan.pendingGroups,
          ...reflinkJson(result.reflink),
        });
        return;
      }
      const st = styleFor();
      const label = actionLabel(mode, 'HARDLINK');
      const changes = planMetadataChanges(db, plan);
      const reasons = [...skipReasons(counts)].map(([r, n]) => `${formatCount(n)} ${r}`).join(', ');
      say(
        opts,
        [
          st.status('ok', `Plan created: ${plan.name}`),
          `   ID: ${plan.id}`,
          `   Opportunities: ${formatCount(plan.opportunities)}`,
          `   Potential savings: ${formatBytes(plan.bytesSaveable)} (${formatCount(plan.bytesSaveable)} bytes)${mode === 'reflink' ? ": the targets' own blocks, shared with the kept copies once cloned" : ''}`,
          `   Actions: ${formatCount(byType.HARDLINK!)} ${label}, ${formatCount(byType.NOOP!)} NOOP, ${formatCount(byType.SKIP!)} SKIP${reasons ? ` (${reasons})` : ''}`,
          `   Keep: ${stored.keepRules.join(', ')}`,
          ...(changes ? [`   ${metadataLine(changes, st)}`] : []),
          `   Scope: ${describeScope(scope.entries) ?? (device ? `all of ${device.alias} (${displayPath(device.mountPoint)})` : 'everything catalogued')}`,
          ...(filterText ? [`   Filters: ${filterText}`] : []),
          ...reflinkLines(result.reflink, st),
          ...(plan.pendingGroups
            ? [
                `   Pending: ${countOf(plan.pendingGroups, 'candidate inode')} not hashed yet (not planned)`,
              ]
            : []),
          '',
          `Review it with: hashall conductor show-plan ${plan.id}`,
        ].join('\n'),
      );
    } finally {
      db.close();
    }
  });
}

// --- show-plan / plans -------------------------------------------------------------------

function requirePlan(db: DB, id: number): PlanRow {
  const plan = getPlan(db, id);
  if (!plan) throw new UserError(`no plan with id ${id}; 'hashall conductor plans' lists them`);
  return plan;
}

/** The plan's warning that linked targets will show the kept copy's mtime. */
function metadataLine(n: number, st: Style): string {
  return st.status(
    'warning',
    `Metadata: ${countOf(n, 'target')} will show the kept copy's mtime (a hardlink shares one inode's metadata)`,
  );
}

function actionJson(
  a: ActionRow,
  toAbs: (d: number, p: Buffer) => Buffer,
  mode: Mode,
): Record<string, unknown> {
  return {
    id: a.id,
    type: actionLabel(mode, a.type),
    ...jsonPath('source', toAbs(a.sourceDeviceId, a.sourcePath)),
    ...jsonPath('target', toAbs(a.deviceId, a.targetPath)),
    bytes: a.bytes,
    size: a.size,
    sha256: a.groupHash ? a.groupHash.toString('hex') : null,
    status: a.status,
    reason: a.reason,
    error: a.error,
    group: a.groupNo,
    keep_rule: a.keepRule,
    // A string (comma-separated fields, '' for none), as in report's CSV and JSON rows.
    metadata_changes: metadataChanges(mode, a).join(','),
    undo_status: a.undoStatus ?? null,
  };
}

interface ShowOpts extends GlobalOptions {
  limit: number;
}

function registerShowPlan(conductor: Command): void {
  withGlobals(
    conductor
      .command('show-plan')
      .description('display a plan: header, counts and its top actions')
      .argument('<plan_id>', 'plan id', parsePlanId)
      .option(
        '--limit <n>',
        'actions to show, HARDLINK (REFLINK) by bytes first (0: all)',
        parseLimit,
        20,
      ),
  ).action((id: number, opts: ShowOpts) => {
    const { db } = open(opts, { readonly: true });
    try {
      const plan = requirePlan(db, id);
      const counts = actionCounts(db, id);
      const actions = topActions(db, id, opts.limit === 0 ? -1 : opts.limit);
      const toAbs = visiblePathMapper(db);
      const stored = planFilters(plan.options);
      const mode = planMode(plan);
      const scope = planScope(db, plan.id);
      const aliases = new Map(listDevices(db).map((d) => [d.id, d.alias]));
      if (opts.json) {
        printJson({
          id: plan.id,
          name: plan.name,
          status: plan.status,
          mode,
          scope: scope.map((e) => scopeEntryJson(e, aliases.get(e.deviceId))),
          created_at: new Date(plan.createdAt).toISOString(),
          executed_at: plan.executedAt ? new Date(plan.executedAt).toISOString() : null,
          options: { ...plan.options, keep_rules: stored.keepRules, filters: stored.filters },
          keep: stored.keepRules,
          filters: stored.filters,
          opportunities: plan.opportunities,
          bytes_saveable: plan.bytesSaveable,
          metadata_changes: planMetadataChanges(db, plan),
          counts: countsFor(mode, countsJson(counts)),
          actions: actions.map((a) => actionJson(a, toAbs, mode)),
        });
        return;
      }
      const byType = countsJson(counts);
      const label = actionLabel(mode, 'HARDLINK');
      const changes = planMetadataChanges(db, plan);
      const lines = [
        `╔${BOX}`,
        `║ CONDUCTOR PLAN #${plan.id}: ${plan.name}`,
        `╚${BOX}`,
        '',
        `Status: ${plan.status}`,
        `Created: ${formatTime(plan.createdAt)}${plan.options.deviceAlias ? `  Device: ${plan.options.deviceAlias}` : ''}  Keep: ${stored.keepRules.join(', ')}${mode === 'reflink' ? '  Mode: reflink' : ''}`,
        `Scope: ${describeScope(scope) ?? (plan.options.deviceAlias ? `all of ${plan.options.deviceAlias}` : 'everything catalogued')}`,
        `Filters: ${describeFilters(stored.filters) ?? 'none'}`,
        `Opportunities: ${formatCount(plan.opportunities)}`,
        `Potential Savings: ${formatBytes(plan.bytesSaveable)} (${formatCount(plan.bytesSaveable)} bytes)`,
        `Actions: ${formatCount(byType.HARDLINK!)} ${label}, ${formatCount(byType.NOOP!)} NOOP, ${formatCount(byType.SKIP!)} SKIP`,
        ...(changes ? [metadataLine(changes, styleFor())] : []),
        ...(plan.options.reflink_unsupported ?? []).map(
          (u) => `No reflinks on ${u.device} (${u.fs_type}): ${u.reason}; nothing planned there`,
        ),
        '',
        `${opts.limit === 0 ? 'All' : `Top ${Math.min(opts.limit, actions.length)}`} Actions (target ← source, in the order execute runs them):`,
        THIN,
      ];
      // The largest actions, listed in the order execute runs them (the plan's order) and,
      // like execute, as `target ← source`: the target becomes a link to the kept source.
      const typeRank = (t: string) => (t === 'HARDLINK' ? 0 : t === 'NOOP' ? 1 : 2);
      const shown = [...actions].sort((x, y) => typeRank(x.type) - typeRank(y.type) || x.id - y.id);
      shown.forEach((a, i) => {
        const bytes =
          a.type === 'HARDLINK'
            ? `${formatCount(a.bytes).padStart(17)} bytes`
            : a.type === 'SKIP'
              ? `${formatCount(a.size).padStart(17)} bytes`
              : '';
        lines.push(
          `${String(i + 1).padStart(2)}. ${actionLabel(mode, a.type).padEnd(12)}${bytes}${a.status !== 'pending' && a.status !== 'skipped' ? `  [${a.status}]` : ''}`,
        );
        lines.push(`    ${hex(a.groupHash)}`);
        lines.push(`    ${displayPath(toAbs(a.deviceId, a.targetPath))}`);
        lines.push(`      ← ${displayPath(toAbs(a.sourceDeviceId, a.sourcePath))}`);
        if (a.reason && a.type !== 'HARDLINK') lines.push(`    Reason: ${a.reason}`);
        if (a.keepRule) lines.push(`    Kept by: ${a.keepRule}`);
        if (metadataChanges(mode, a).length > 0)
          lines.push(
            `    ${styleFor().status('warning', `Metadata: mtime ${mtimeText(a.targetMtimeNs)} becomes ${mtimeText(a.sourceMtimeNs)} (the kept copy's)`)}`,
          );
        if (a.error) lines.push(`    Error: ${a.error}`);
        if (a.undoStatus)
          lines.push(
            `    Undo: ${a.undoStatus === 'left' ? 'left alone (changed since execute)' : a.undoStatus}`,
          );
        lines.push('');
      });
      say(opts, lines.join('\n'));
    } finally {
      db.close();
    }
  });

  withGlobals(conductor.command('plans').description('list plans')).action(
    (opts: GlobalOptions) => {
      const { db } = open(opts, { readonly: true });
      try {
        const plans = listPlans(db);
        const aliases = new Map(listDevices(db).map((d) => [d.id, d.alias]));
        const scopes = new Map(plans.map((p) => [p.id, planScope(db, p.id)]));
        if (opts.json) {
          printJson({
            plans: plans.map((p) => ({
              id: p.id,
              name: p.name,
              status: p.status,
              created_at: new Date(p.createdAt).toISOString(),
              executed_at: p.executedAt ? new Date(p.executedAt).toISOString() : null,
              device: p.options.deviceAlias,
              scope: scopes.get(p.id)!.map((e) => scopeEntryJson(e, aliases.get(e.deviceId))),
              mode: planMode(p),
              keep: planFilters(p.options).keepRules,
              filters: planFilters(p.options).filters,
              opportunities: p.opportunities,
              bytes_saveable: p.bytesSaveable,
            })),
          });
          return;
        }
        if (plans.length === 0) {
          say(opts, 'No plans yet: hashall conductor plan "NAME" creates one.');
          return;
        }
        say(
          opts,
          table(
            [
              'ID',
              'NAME',
              'STATUS',
              'DEVICE',
              'SCOPE',
              'MODE',
              'OPPORTUNITIES',
              'SAVEABLE',
              'CREATED',
              'FILTERS',
            ],
            plans.map((p) => [
              String(p.id),
              p.name,
              p.status,
              p.options.deviceAlias ?? 'all',
              describeScope(scopes.get(p.id)!) ?? '-',
              planMode(p),
              formatCount(p.opportunities),
              formatBytes(p.bytesSaveable),
              formatTime(p.createdAt),
              describeFilters(planFilters(p.options).filters) ?? '-',
            ]),
            [true, false, false, false, false, false, true, true, false, false],
          ),
        );
      } finally {
        db.close();
      }
    },
  );
}

// --- execute -----------------------------------------------------------------------------

interface ExecOpts extends GlobalOptions {
  dryRun?: boolean;
  verbose?: boolean;
  force?: boolean;
  verify: Verify;
}

async function confirm(plan: PlanRow, hardlinks: number): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const mode = planMode(plan);
  try {
    process.stderr.write(
      `Plan #${plan.id} "${plan.name}": ${countOf(hardlinks, `${actionLabel(mode, 'HARDLINK')} action`)}, ${formatBytes(plan.bytesSaveable)} to save.\n`,
    );
    const answer = await rl.question(
      `Replace these files with ${mode === 'reflink' ? 'copy-on-write clones' : 'hardlinks'} now? [y/N] `,
    );
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function registerExecute(conductor: Command): void {
  withGlobals(
    conductor
      .command('execute')
      .description('carry out a plan (see --dry-run first)')
      .argument('<plan_id>', 'plan id', parsePlanId)
      .option('--dry-run', 'check every action against the disk and report; change nothing')
      .option('--force', 'execute without asking (required when not on a terminal)')
      .option(
        '-v, --verbose',
        `print every action (a plan of more than ${SMALL_PLAN} prints only its failures)`,
      )
      .option(
        '--verify <how>',
        "'bytes' (compare both files, default) or 'hash' (re-hash both)",
        parseVerify,
        'bytes',
      ),
  ).action(async (id: number, opts: ExecOpts) => {
    const dryRun = opts.dryRun ?? false;
    const cat = open(opts, { readonly: dryRun });
    const db = cat.db;
    try {
      let plan = requirePlan(db, id);
      if (
        plan.status === 'undone' ||
        plan.status === 'partially-undone' ||
        plan.status === 'undoing'
      )
        throw new UserError(
          `plan ${id} is ${plan.status}: its paths were given their own copies back; make a new plan to deduplicate them again`,
        );
      const hardlinks = countsJson(actionCounts(db, id)).HARDLINK!;
      if (!dryRun && !opts.force) {
        if (!process.stdin.isTTY) {
          throw new UserError(
            `refusing to execute plan ${id} without --force when not on a terminal; review it with 'hashall conductor show-plan ${id}' and '--dry-run', then add --force`,
          );
        }
        if (!(await confirm(plan, hardlinks))) {
          say(opts, 'Nothing done.');
          return;
        }
      }
      if (dryRun) {
        if (recoveryPending(db).execute) {
          warn(
            opts,
            'hashall: note: an interrupted execute left work to recover; the next real execute (or scan) will recover it first',
          );
        }
        const { summary, doc } = await runPlan(db, plan, {
          opts,
          dryRun,
          verify: opts.verify,
          verbose: opts.verbose ?? false,
          replacements: hardlinks,
          log: undefined,
          recovery: undefined,
        });
        finish(summary, doc);
        return;
      }
      await withExecutorRun(
        {
          db,
          catalogPath: cat.path,
          planId: id,
          log: {
            name: `conductor-plan-${id}`,
            header: `execute plan #${plan.id} "${plan.name}" (verify: ${opts.verify}) pid ${process.pid}`,
          },
          onEvent: warnRecovery(opts),
        },
        async (run) => {
          // Recovery may have finished some of this plan's actions.
          plan = requirePlan(db, id);
          const { summary, doc } = await runPlan(db, plan, {
            opts,
            dryRun,
            verify: opts.verify,
            verbose: opts.verbose ?? false,
            replacements: hardlinks,
            log: run.log,
            recovery: run.recovery.execute,
          });
          finish(summary, doc);
        },
      );
    } finally {
      db.close();
    }
    function finish(summary: ExecuteSummary, doc: Record<string, unknown>): void {
      if (opts.json) printJson(doc);
      process.exitCode = summary.interrupted
        ? EXIT.interrupted
        : summary.failed > 0
          ? EXIT.partial
          : EXIT.ok;
    }
  });
}

// --- status ------------------------------------------------------------------------------

function registerStatus(conductor: Command): void {
  withGlobals(
    conductor
      .command('status')
      .description('devices, files, hardlink statistics, potential savings, pending candidates')
      .option('--device <path>', 'only this filesystem (a path on it, or its alias)'),
  ).action((opts: GlobalOptions & { device?: string }) => {
    const { db } = open(opts, { readonly: true });
    try {
      const device = deviceOption(db, opts.device);
      const s = status(db, device);
      if (opts.json) {
        printJson({
          devices: s.devices.map((d) => deviceJson(d.device, d.usage)),
          files: s.files,
          inodes: s.inodes,
          bytes: s.bytes,
          hardlinks: {
            shared_paths: s.hardlinks.sharedPaths,
            inodes: s.hardlinks.inodes,
            bytes_saved: s.hardlinks.bytesSaved,
          },
          bytes_saveable: s.bytesSaveable,
          groups: s.groups,
          pending: s.pending,
          last_scans: s.lastScans.map((r) => ({
            ...jsonPath('root', r.root),
            status: r.status,
            finished_at: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
          })),
        });
        return;
      }
      const lines = [styleFor().deco('📊', 'Registered Devices:')];
      for (const d of s.devices) {
        lines.push(
          `  ${displayPath(d.device.mountPoint)}  (${d.device.alias}, ${d.device.fsType}) - ${countOf(d.usage?.files ?? 0, 'file')}, ${formatBytes(d.usage?.bytes ?? 0)}`,
        );
      }
      lines.push(
        '',
        `Files:              ${countOf(s.files, 'path')}, ${countOf(s.inodes, 'inode')}`,
        `Total space:        ${formatBytes(s.bytes)}`,
        `Hardlinks:          ${countOf(s.hardlinks.sharedPaths, 'path')} share ${countOf(s.hardlinks.inodes, 'inode')}, already saving ${formatBytes(s.hardlinks.bytesSaved)}`,
        `Potential savings:  ${formatBytes(s.bytesSaveable)} in ${countOf(s.groups, 'group')}`,
        `Pending candidates: ${formatCount(s.pending)}`,
        '',
        'Last scan per root:',
        ...s.lastScans.map(
          (r) =>
            `  ${displayPath(r.root)}  ${r.status}  ${formatTime(r.finishedAt ?? r.startedAt)}`,
        ),
      );
      say(opts, lines.join('\n'));
    } finally {
      db.close();
    }
  });
}

export function registerConductor(program: Command): void {
  const conductor = program
    .command('conductor')
    .description('analyze → plan → review → dry-run → execute');
  registerAnalyze(conductor);
  registerPlan(conductor);
  registerShowPlan(conductor);
  registerExecute(conductor);
  registerAutoExecute(conductor);
  registerStatus(conductor);
  registerReport(conductor);
  registerUndo(conductor);
  for (const c of conductor.commands) c.exitOverride();
  conductor.exitOverride();
}
