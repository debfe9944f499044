/**
 * `conductor analyze`: the deduplication opportunities in the catalog; with `--rescan`, of the
 * tree as it is now (the recorded roots rescanned first, in the same process).
 */
import { Command } from 'commander';
import type { Catalog } from '../../../catalog/port.js';
import { deviceLabel } from '../../../device-label.js';
import { displayPath } from '../../../display-path.js';
import { EXIT, UserError } from '../../../errors.js';
import { hostView } from '../../host-view.js';
import type { Analysis } from '../../../conductor/analyze.js';
import { analyzeRun, type AnalyzeRunEvent } from '../../../conductor/analyze-run.js';
import type { Rescan } from '../../../conductor/rescan.js';
import type { ScanSummary } from '../../../scan/scanner.js';
import { describeFilters, type Filters } from '../../../conductor/filters.js';
import { keepRuleText, type KeepRule } from '../../../conductor/keep-rules.js';
import { open, printJson, say, warn, withGlobals, type GlobalOptions } from '../../context.js';
import { progressWanted, scanProgress } from '../../progress.js';
import { stopRequested } from '../../signals.js';
import { rescannedLine, warnRootMissing, warnScan } from '../../render/rescan.js';
import { scanJson, warnScanRecovery } from '../scan.js';
import { countOf, formatBytes, formatCount } from '../../../format.js';
import { styleFor } from '../../style.js';
import { parseFilterOpts, withFilterOptions, type FilterOpts } from '../../filter-options.js';
import { deviceJson } from '../devices.js';
import { deviceAndScope, PATHS_HELP } from '../../scope-args.js';
import { describeScope, type Scope } from '../../../conductor/scope.js';
import { hex } from '../../render/plan.js';
import { parseLimit } from './args.js';

interface AnalyzeOpts extends GlobalOptions, FilterOpts {
  device?: string;
  crossDevice?: boolean;
  limit: number;
  rescan?: boolean;
  scanExclude: string[];
  oneFileSystem?: boolean;
}

function rescanOf(opts: AnalyzeOpts): Rescan {
  if (!opts.rescan && (opts.scanExclude.length > 0 || opts.oneFileSystem))
    throw new UserError('--scan-exclude and --one-file-system apply to --rescan; add --rescan');
  return opts.rescan
    ? { kind: 'rescan', exclude: opts.scanExclude, oneFileSystem: opts.oneFileSystem ?? false }
    : { kind: 'none' };
}

export function registerAnalyze(conductor: Command): void {
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
        .option('--limit <n>', 'groups to list per section (0: all)', parseLimit, 10)
        .option('--rescan', 'rescan the catalogued roots in question first (as scan does)')
        .option(
          '--scan-exclude <glob>',
          'with --rescan: skip entries matching GLOB, as scan --exclude (repeatable)',
          (v: string, acc: string[]) => [...acc, v],
          [] as string[],
        )
        .option('-x, --one-file-system', 'with --rescan: do not descend into other filesystems'),
    ),
  ).action(async (paths: string[], opts: AnalyzeOpts) => {
    const { filters, keep } = parseFilterOpts(opts);
    const rescan = rescanOf(opts);
    // Only a rescan writes: a plain analyze opens the catalog read-only (a read-only mount works).
    const catalog = await open(opts, rescan.kind === 'rescan' ? {} : { readonly: true });
    const progress = scanProgress(rescan.kind === 'rescan' && progressWanted(opts.quiet));
    try {
      const { device, scope } = await deviceAndScope(catalog, opts.device, paths);
      const result = await analyzeRun(
        {
          catalog,
          analyze: {
            ...(device ? { device } : {}),
            crossDevice: opts.crossDevice ?? false,
            limit: opts.limit || -1,
            keep,
            filters,
            scope,
          },
          rescan,
          shouldStop: stopRequested,
          onProgress: (p) => progress.update(p),
        },
        (e) => {
          if (e.kind === 'rescanned') progress.stop();
          onEvent(opts, e);
        },
      );
      if (result.kind === 'scan-interrupted') {
        if (opts.json) printJson({ interrupted: true, rescan: scanJson(result.scan) });
        process.exitCode = EXIT.interrupted;
        return;
      }
      await render(opts, catalog, {
        analysis: result.analysis,
        keep,
        filters,
        scope,
        rescan: result.scan,
      });
      if (result.scan && result.scan.errorCount > 0) process.exitCode = EXIT.partial;
    } finally {
      progress.stop();
      await catalog.close();
    }
  });
}

/** The rescan's story, as scan and auto-execute tell theirs (stderr, but the summary line). */
function onEvent(opts: AnalyzeOpts, e: AnalyzeRunEvent): void {
  switch (e.kind) {
    case 'recovered-execute':
    case 'recovered-undo':
      warnScanRecovery(opts)(e);
      return;
    case 'not-here':
      warn(
        opts,
        `hashall: note: ${e.device.alias} (${displayPath(e.device.mountPoint)}) is not mounted on this host; not rescanned`,
      );
      return;
    case 'root-missing':
      warnRootMissing(opts, e.path);
      return;
    case 'rescanned':
      warnScan(opts, e.scan);
      if (!opts.json)
        say(
          opts,
          `${rescannedLine(e.roots, e.scan, 'nothing analyzed')}${e.scan.interrupted ? '' : '\n'}`,
        );
      return;
  }
}

interface Shown {
  readonly analysis: Analysis;
  readonly keep: readonly KeepRule[];
  readonly filters: Filters;
  readonly scope: Scope;
  /** The rescan's summary (`--rescan`), or undefined. */
  readonly rescan: ScanSummary | undefined;
}

async function render(opts: AnalyzeOpts, catalog: Catalog, shown: Shown): Promise<void> {
  const { analysis: a, keep, filters, scope } = shown;
  const keepText = keep.map(keepRuleText);
  const view = await hostView(catalog);
  if (opts.json) {
    printJson({
      keep: keepText,
      filters: filters.toJson(),
      scope: scope.toJson(),
      // host: the host whose mount is shown, as in `devices --json`.
      devices: a.devices.map((d) => deviceJson(d.device, d.usage, view)),
      same_device: {
        groups: a.sameDevice.groups,
        bytes_saveable: a.sameDevice.bytesSaveable,
        pinned_inodes: a.sameDevice.pinnedInodes,
        blocked_groups: a.sameDevice.blockedGroups,
        // How the groups were obtained: {"kind": "cached"} when no row changed since the
        // stored totals were brought up to date, {"kind": "updated", "keys": N}, or
        // {"kind": "regrouped"} (a scope groups every row).
        source: a.sameDevice.source ?? null,
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
      rescan: shown.rescan ? scanJson(shown.rescan) : null,
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
  const label = (d: (typeof a.devices)[number]) => deviceLabel(d.device, view);
  const width = Math.max(8, ...a.devices.map((d) => label(d).length));
  for (const d of a.devices) {
    lines.push(
      `  ${label(d).padEnd(width)}  (${d.device.alias}) - ${countOf(d.usage?.files ?? 0, 'file')}, ${formatBytes(d.usage?.bytes ?? 0)}`,
    );
  }
  lines.push('', st.deco('🔍', 'Same-device deduplication opportunities:'));
  if (a.sameDevice.groups === 0) lines.push('  none');
  for (const d of a.devices) {
    const groups = a.sameDevice.top.filter((g) => g.deviceId === d.device.id);
    if (groups.length === 0) continue;
    lines.push(`  ${label(d)}:`);
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
}
