/** `conductor plan`: create a plan (changes nothing on disk). */
import { Command } from 'commander';
import type { ActionCount } from '../../../catalog/plan-port.js';
import { describeFilters } from '../../../conductor/filters.js';
import { actionLabel, planMode, type Mode } from '../../../conductor/mode.js';
import { createPlan, type PlanResult } from '../../../conductor/plan.js';
import { UserError } from '../../../errors.js';
import { jsonPath } from '../../../paths.js';
import { open, printJson, say, withGlobals, type GlobalOptions } from '../../context.js';
import { countOf, formatBytes, formatCount } from '../../../format.js';
import { styleFor, type Style } from '../../style.js';
import { parseFilterOpts, withFilterOptions, type FilterOpts } from '../../filter-options.js';
import { planFilters } from '../../../catalog/plan-types.js';
import { planMetadataChanges } from '../../../conductor/metadata-change.js';
import { deviceAndScope, PATHS_HELP } from '../../scope-args.js';
import { describeScope } from '../../../conductor/scope.js';
import { countsJson, countsFor, metadataLine } from '../../render/plan.js';
import { parseBool, parseMode } from './args.js';
import { deviceLabel, type HostView } from '../../../device-label.js';
import { hostView } from '../../host-view.js';

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

function reflinkLines(r: PlanResult['reflink'], st: Style, view: HostView): string[] {
  if (!r) return [];
  // The device as listings name it: `nas1:/pool` once the catalog knows several hosts.
  const lines = r.unsupported.map((u) =>
    st.status(
      'warning',
      `No reflinks on ${deviceLabel(u.device, view)} (${u.device.alias}, ${u.device.fsType}): ${u.reason}; nothing planned there (${countOf(u.groups, 'group')}; --mode hardlink can link them)`,
    ),
  );
  if (r.estimated) {
    lines.push(
      `   ${countOf(r.estimated, 'file')} priced by their size: ${r.fiemap ? 'FIEMAP could not read their block maps' : 'filefrag (e2fsprogs) is not installed, so block sharing was not checked'}`,
    );
  }
  return lines;
}

function skipReasons(counts: readonly ActionCount[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of counts) {
    if (c.type !== 'SKIP') continue;
    const r = (c.reason ?? 'skipped').replace(/:.*/, '');
    m.set(r, (m.get(r) ?? 0) + c.n);
  }
  return m;
}

export function registerPlan(conductor: Command): void {
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
  ).action(async (name: string, paths: string[], opts: PlanOpts) => {
    if (!name.trim()) throw new UserError('a plan needs a name');
    const { filters, keep } = parseFilterOpts(opts);
    const catalog = await open(opts);
    try {
      const { device, scope } = await deviceAndScope(catalog, opts.device, paths);
      const result = await createPlan(catalog, {
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
      const changes = await planMetadataChanges(catalog, plan);
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
          metadata_changes: changes,
          pending: plan.pendingGroups,
          ...reflinkJson(result.reflink),
        });
        return;
      }
      const st = styleFor();
      const view = await hostView(catalog);
      const label = actionLabel(mode, 'HARDLINK');
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
          `   Scope: ${describeScope(scope.entries) ?? (device ? `all of ${device.alias} (${deviceLabel(device, view)})` : 'everything catalogued')}`,
          ...(filterText ? [`   Filters: ${filterText}`] : []),
          ...reflinkLines(result.reflink, st, view),
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
      await catalog.close();
    }
  });
}
