/** `conductor show-plan ID`: a plan's header, counts and top actions. */
import { Command } from 'commander';
import type { ActionRow } from '../../../catalog/actions.js';
import type { Catalog } from '../../../catalog/port.js';
import { describeFilters } from '../../../conductor/filters.js';
import { actionLabel, planMode, type Mode } from '../../../conductor/mode.js';
import { jsonPath } from '../../../paths.js';
import { visiblePathMapper } from '../../../conductor/visible-path.js';
import { open, printJson, say, withGlobals, type GlobalOptions } from '../../context.js';
import { formatBytes, formatCount, formatTime } from '../../../format.js';
import { styleFor } from '../../style.js';
import { planFilters } from '../../../catalog/plan-types.js';
import {
  metadataChanges,
  mtimeChangeTexts,
  planMetadataChanges,
} from '../../../conductor/metadata-change.js';
import { describeScope, scopeEntryJson } from '../../../conductor/scope.js';
import { hex, countsJson, countsFor, metadataLine } from '../../render/plan.js';
import { parseLimit, parsePlanId, requirePlan } from './args.js';
import { deviceNames, type DeviceNames } from '../../../report/device-names.js';
import { hostView } from '../../host-view.js';

const BOX = '═'.repeat(62);
const THIN = '─'.repeat(64);

function actionJson(
  a: ActionRow,
  toAbs: (d: number, p: Buffer) => Buffer,
  mode: Mode,
  names: DeviceNames,
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
    // The hosts whose mounts `target` and `source` are under (README "Several hosts").
    host: names.host(a.deviceId)?.hostname ?? null,
    source_host: names.host(a.sourceDeviceId)?.hostname ?? null,
  };
}

const PAGE = 1000;
const rank = (t: string) => (t === 'HARDLINK' ? 0 : t === 'NOOP' ? 1 : 2);

/**
 * `--limit 0`: every action, read a page at a time, in the order `top` gives a limited list:
 * HARDLINK by bytes, then NOOP, then SKIP (bytes, then size, largest first; then by id).
 */
async function everyAction(catalog: Pick<Catalog, 'planActions'>, planId: number) {
  const all: ActionRow[] = [];
  for (let afterId = 0; ;) {
    const page = await catalog.planActions.page({
      planId,
      afterId,
      limit: PAGE,
      types: ['HARDLINK', 'NOOP', 'SKIP'],
    });
    if (page.length === 0) break;
    all.push(...page);
    afterId = page[page.length - 1]!.id;
  }
  return all.sort(
    (x, y) => rank(x.type) - rank(y.type) || y.bytes - x.bytes || y.size - x.size || x.id - y.id,
  );
}

interface ShowOpts extends GlobalOptions {
  limit: number;
}

export function registerShowPlan(conductor: Command): void {
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
  ).action(async (id: number, opts: ShowOpts) => {
    const catalog = await open(opts, { readonly: true });
    try {
      const plan = await requirePlan(catalog, id);
      const counts = await catalog.planActions.counts(id);
      const actions =
        opts.limit === 0
          ? await everyAction(catalog, id)
          : await catalog.planActions.top(id, opts.limit);
      const devices = await catalog.planDevices.list();
      const toAbs = visiblePathMapper(devices);
      const names = deviceNames(devices, await hostView(catalog));
      const stored = planFilters(plan.options);
      const mode = planMode(plan);
      const scope = await catalog.plans.scope(plan.id);
      const aliases = new Map(devices.map((d) => [d.id, d.alias]));
      const changes = await planMetadataChanges(catalog, plan);
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
          metadata_changes: changes,
          counts: countsFor(mode, countsJson(counts)),
          actions: actions.map((a) => actionJson(a, toAbs, mode, names)),
        });
        return;
      }
      const byType = countsJson(counts);
      const label = actionLabel(mode, 'HARDLINK');
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
      const shown = [...actions].sort((x, y) => rank(x.type) - rank(y.type) || x.id - y.id);
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
        // `nas1:/pool/a` once the catalog knows several hosts, as devices and dupes name them.
        lines.push(`    ${names.path(a.deviceId, toAbs(a.deviceId, a.targetPath))}`);
        lines.push(
          `      ← ${names.path(a.sourceDeviceId, toAbs(a.sourceDeviceId, a.sourcePath))}`,
        );
        if (a.reason && a.type !== 'HARDLINK') lines.push(`    Reason: ${a.reason}`);
        if (a.keepRule) lines.push(`    Kept by: ${a.keepRule}`);
        if (metadataChanges(mode, a).length > 0) {
          const [was, will] = mtimeChangeTexts(a.targetMtimeNs, a.sourceMtimeNs);
          lines.push(
            `    ${styleFor().status('warning', `Metadata: mtime ${was} becomes ${will} (the kept copy's)`)}`,
          );
        }
        if (a.error) lines.push(`    Error: ${a.error}`);
        if (a.undoStatus)
          lines.push(
            `    Undo: ${a.undoStatus === 'left' ? 'left alone (changed since execute)' : a.undoStatus}`,
          );
        lines.push('');
      });
      say(opts, lines.join('\n'));
    } finally {
      await catalog.close();
    }
  });
}
