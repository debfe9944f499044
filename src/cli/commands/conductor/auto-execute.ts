/**
 * `hashall conductor auto-execute`: for cron and systemd timers. Rescan (if asked), plan, and
 * execute without a prompt only when the plan saves at least --min-savings; otherwise say why
 * and exit 0 (the plan is discarded: the log keeps its figures). --schedule prints (and
 * --install writes) the units and crontab line that run the same command. The pipeline and the
 * units are the conductor's (auto-execute-run.ts, schedule-job.ts); this file parses, renders.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { realpathSync } from 'node:fs';
import { catalogPath, defaultCatalogPath } from '../../../catalog/location.js';
import type { DeviceRow } from '../../../catalog/devices.js';
import {
  autoExecute,
  type AutoEvent,
  type AutoResult,
} from '../../../conductor/auto-execute-run.js';
import type { Rescan } from '../../../conductor/rescan.js';
import type { Verify } from '../../../conductor/execute/index.js';
import { parseSize } from '../../../conductor/filters.js';
import { keepRuleText } from '../../../conductor/keep-rules.js';
import { MODES, actionLabel, planMode, type Mode } from '../../../conductor/mode.js';
import { SCHEDULES, type Schedule } from '../../../conductor/schedule.js';
import type { Scope } from '../../../conductor/scope.js';
import { scheduleJob, type ScheduledJob } from '../../../conductor/schedule-job.js';
import { EXIT, UserError } from '../../../errors.js';
import { displayPath } from '../../../display-path.js';
import { jsonPath, jsonPaths } from '../../../paths.js';
import { MAIN_JS } from '../../main-path.js';
import { deviceAndScope, PATHS_HELP } from '../../scope-args.js';
import { open, printJson, say, warn, withGlobals, type GlobalOptions } from '../../context.js';
import { parseFilterOpts, withFilterOptions, type FilterOpts } from '../../filter-options.js';
import { countOf, formatBytes, formatCount } from '../../../format.js';
import { recoveryEventText } from '../../render/recovery.js';
import { styleFor } from '../../style.js';
import { stopRequested } from '../../signals.js';
import { runPlan } from '../../render/run-plan.js';
import { scanJson } from '../scan.js';
import { rescannedLine, warnRootMissing, warnScan } from '../../render/rescan.js';

interface AutoOpts extends GlobalOptions, FilterOpts {
  device: string;
  minSavings: string;
  rescan?: boolean;
  scanExclude: string[];
  oneFileSystem?: boolean;
  verify: Verify;
  mode: Mode;
  schedule?: Schedule;
  weekly?: boolean;
  install?: boolean;
}

function choice<T extends string>(values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v))
      throw new InvalidArgumentError(`use one of: ${values.join(', ')}`);
    return v as T;
  };
}

function rescanOf(opts: AutoOpts): Rescan {
  return opts.rescan
    ? { kind: 'rescan', exclude: opts.scanExclude, oneFileSystem: opts.oneFileSystem ?? false }
    : { kind: 'none' };
}

async function schedule(
  opts: AutoOpts,
  paths: string[],
  when: Schedule,
  minSavings: number,
  { filters, keep }: Parsed,
): Promise<void> {
  const catalog = await open(opts, { readonly: true });
  let resolved;
  try {
    // The schedule must name a real device (and catalogued directories).
    resolved = await deviceAndScope(catalog, opts.device, paths);
  } finally {
    await catalog.close();
  }
  const job = scheduleJob({
    when,
    deviceArg: opts.device,
    device: resolved.device!,
    scope: resolved.scope,
    minSavings: { text: opts.minSavings, bytes: minSavings },
    rescan: rescanOf(opts),
    filters,
    keep,
    mode: opts.mode,
    verify: opts.verify,
    quiet: opts.quiet ?? false,
    catalog: catalogPath(opts.catalog),
    defaultCatalog: defaultCatalogPath(),
    mainJs: realpathSync(MAIN_JS),
    action: opts.install ? 'install' : 'print',
  });
  if (opts.json) {
    printJson({
      schedule: when,
      name: job.name,
      command: job.command,
      service: job.text.service,
      timer: job.text.timer,
      crontab: job.text.crontab,
      service_path: job.servicePath,
      timer_path: job.timerPath,
      installed: job.installed ?? null,
      enable: job.enable,
    });
    return;
  }
  say(opts, scheduleLines(job).join('\n'));
}

function scheduleLines(job: ScheduledJob): string[] {
  if (job.installed) {
    return [
      styleFor().status('ok', 'Installed the systemd user units:'),
      ...job.installed.map((i) => `   ${i.path} (${i.state})`),
      '',
      'Enable the timer with:',
      `   ${job.enable}`,
      'Run it without a login session (a server, or root): loginctl enable-linger $USER',
      `Check it with: systemctl --user list-timers ${job.name}.timer; logs: journalctl --user -u ${job.name}.service`,
    ];
  }
  return [
    `# ${job.servicePath}`,
    job.text.service,
    `# ${job.timerPath}`,
    job.text.timer,
    `# Enable: ${job.enable}`,
    '# (--install writes both files; loginctl enable-linger $USER runs them without a login)',
    '',
    '# Or a crontab line (crontab -e):',
    job.text.crontab,
  ];
}

export function registerAutoExecute(conductor: Command): void {
  withGlobals(
    withFilterOptions(
      conductor
        .command('auto-execute')
        .description(
          'for cron/systemd: (rescan,) plan, and execute without asking when the plan saves at least --min-savings',
        )
        .argument('[paths...]', `${PATHS_HELP}; on the --device filesystem`)
        .requiredOption(
          '--device <path>',
          'the filesystem to deduplicate (a path on it, or its alias)',
        )
        .requiredOption(
          '--min-savings <size>',
          'run only when the plan saves at least this much (1GB, 500MiB, bytes)',
        )
        .option('--rescan', "rescan the device's catalogued roots first")
        .option(
          '--scan-exclude <glob>',
          'with --rescan: skip entries matching GLOB, as scan --exclude (repeatable)',
          (v: string, acc: string[]) => [...acc, v],
          [] as string[],
        )
        .option('-x, --one-file-system', 'with --rescan: do not descend into other filesystems')
        .option(
          '--verify <how>',
          "'bytes' (compare both files, default) or 'hash'",
          choice(['bytes', 'hash'] as const),
          'bytes',
        )
        .option('--mode <mode>', `${MODES.join(' | ')}`, choice(MODES), 'hardlink')
        .addOption(
          new Option(
            '--schedule <when>',
            'print a systemd timer and a crontab line running this command instead of running it',
          ).choices(SCHEDULES),
        )
        .option('--weekly', 'same as --schedule weekly')
        .option(
          '--install',
          'with --schedule: write the systemd user units (never runs systemctl)',
        ),
    ),
  ).action(async (paths: string[], opts: AutoOpts) => {
    const minSavings = parseSize(opts.minSavings, '--min-savings', 'up');
    const parsed = parseFilterOpts(opts);
    if (opts.weekly && opts.schedule && opts.schedule !== 'weekly')
      throw new UserError(`--weekly and --schedule ${opts.schedule} disagree; give one of them`);
    const when = opts.schedule ?? (opts.weekly ? 'weekly' : undefined);
    if (opts.install && !when)
      throw new UserError('--install needs --schedule daily|weekly|monthly (or --weekly)');
    if (!opts.rescan && (opts.scanExclude.length > 0 || opts.oneFileSystem))
      throw new UserError('--scan-exclude and --one-file-system apply to --rescan; add --rescan');
    if (when) {
      await schedule(opts, paths, when, minSavings, parsed);
      return;
    }
    await runAuto(opts, paths, minSavings, parsed);
  });
}

type Execution = Awaited<ReturnType<typeof runPlan>>;
type Parsed = ReturnType<typeof parseFilterOpts>;

async function runAuto(
  opts: AutoOpts,
  paths: string[],
  minSavings: number,
  { filters, keep }: Parsed,
): Promise<void> {
  const catalog = await open(opts);
  const human = !opts.json && !opts.quiet;
  try {
    const resolved = await deviceAndScope(catalog, opts.device, paths);
    const device = resolved.device!;
    const scope = resolved.scope;
    const onEvent = (e: AutoEvent): void => {
      switch (e.kind) {
        case 'recovered-execute':
        case 'recovered-undo': {
          const text = recoveryEventText(e);
          if (text) warn(opts, text);
          return;
        }
        case 'started':
          if (human)
            process.stdout.write(
              `${styleFor().deco('🤖', 'AUTO-EXECUTE')} ${e.where} (${device.alias}): run when the plan saves at least ${formatBytes(minSavings)} (${formatCount(minSavings)} bytes)\n`,
            );
          return;
        case 'root-missing':
          warnRootMissing(opts, e.path);
          return;
        case 'rescanned':
          warnScan(opts, e.scan);
          if (human) process.stdout.write(`${rescannedLine(e.roots, e.scan, 'nothing planned')}\n`);
          return;
        case 'no-reflinks': {
          const u = e.unsupported;
          warn(
            opts,
            styleFor(process.stderr).status(
              'warning',
              `No reflinks on ${displayPath(u.device.mountPoint)} (${u.device.fsType}): ${u.reason}; nothing planned there`,
            ),
          );
          return;
        }
        case 'executing':
          if (human)
            process.stdout.write(
              `${styleFor().deco('📋', `Plan #${e.plan.id}`)}: ${countOf(e.replacements, `${actionLabel(planMode(e.plan), 'HARDLINK')} action`)}, ${formatBytes(e.plan.bytesSaveable)} to save: executing\n\n`,
            );
          return;
      }
    };
    const result = await autoExecute(
      {
        catalog,
        device,
        scope,
        minSavings,
        rescan: rescanOf(opts),
        mode: opts.mode,
        verify: opts.verify,
        keep,
        filters,
        shouldStop: stopRequested,
      },
      ({ plan, replacements, log }) =>
        runPlan(catalog, plan, {
          opts,
          run: { kind: 'real', log },
          verify: opts.verify,
          verbose: false,
          replacements,
        }),
      onEvent,
    );
    render(opts, result, { device, scope, minSavings, keep, filters, human });
  } finally {
    await catalog.close();
  }
}

interface RenderContext extends Parsed {
  readonly device: DeviceRow;
  readonly scope: Scope;
  readonly minSavings: number;
  readonly human: boolean;
}

/** The outcome: JSON or a closing line, and the exit code. */
function render(opts: AutoOpts, result: AutoResult<Execution>, c: RenderContext): void {
  const scanFailed = result.scan !== undefined && result.scan.errorCount > 0;
  if (result.kind === 'scan-interrupted') {
    if (opts.json) printJson({ interrupted: true, rescan: scanJson(result.scan!), plan: null });
    process.exitCode = EXIT.interrupted;
    return;
  }
  const { plan, replacements, unsupported, decision } = result.planned;
  const planDoc = {
    id: decision.run ? plan.id : null,
    mode: planMode(plan),
    actions: replacements,
    opportunities: plan.opportunities,
    bytes_saveable: plan.bytesSaveable,
    pending: plan.pendingGroups,
    keep: c.keep.map(keepRuleText),
    filters: c.filters.toJson(),
    scope: c.scope.toJson(),
    reflink_unsupported: unsupported.map((u) => ({
      device: u.device.alias,
      fs_type: u.device.fsType,
      reason: u.reason,
    })),
  };
  const common = {
    device: c.device.alias,
    ...jsonPath('mount_point', c.device.mountPoint),
    min_savings: c.minSavings,
    rescan: result.scan ? scanJson(result.scan) : null,
    ...jsonPaths('missing_roots', result.missing),
    plan: planDoc,
  };
  if (result.kind === 'not-run') {
    const why = decision.run ? undefined : decision.why;
    if (opts.json) {
      printJson({ ...common, ran: false, reason: why, execution: null, log: result.logPath });
    } else if (c.human) {
      const text =
        why === 'nothing'
          ? 'there is nothing to deduplicate'
          : `the plan would save ${formatBytes(plan.bytesSaveable)} (${formatCount(plan.bytesSaveable)} bytes), below --min-savings ${formatBytes(c.minSavings)}`;
      process.stdout.write(
        `${styleFor().deco('⏸️ ', 'Nothing done')}: ${text}. The plan was discarded; see ${result.logPath}\n`,
      );
    }
    process.exitCode = scanFailed ? EXIT.partial : EXIT.ok;
    return;
  }
  const { summary, doc } = result.execution;
  if (opts.json)
    printJson({ ...common, ran: true, reason: null, execution: doc, log: result.logPath });
  process.exitCode = summary.interrupted
    ? EXIT.interrupted
    : summary.failed > 0 || scanFailed
      ? EXIT.partial
      : EXIT.ok;
}
