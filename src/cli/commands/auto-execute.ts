/**
 * `hashall conductor auto-execute`: for cron and systemd timers. Rescan (if asked), plan, and
 * execute without a prompt only when the plan saves at least --min-savings; otherwise say why
 * and exit 0 (the plan is discarded: the log keeps its figures). --schedule prints (and
 * --install writes) the units and crontab line that run the same command.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { actionCounts } from '../../catalog/plans.js';
import { catalogPath, defaultCatalogPath } from '../../catalog/open.js';
import { decide, discardPlan, scanRootsOf } from '../../conductor/auto-execute.js';
import { isUtf8 } from 'node:buffer';
import type { Scope } from '../../conductor/scope.js';
import { describeScope } from '../../conductor/scope.js';
import { deviceAndScope, PATHS_HELP } from '../scope-args.js';
import type { Verify } from '../../conductor/execute.js';
import { parseSize, type Filters } from '../../conductor/filters.js';
import { keepRuleText, type KeepRule } from '../../conductor/keep-rules.js';
import { acquireExecutorLock, releaseExecutorLock } from '../../conductor/lock.js';
import { MODES, actionLabel, planMode, type Mode } from '../../conductor/mode.js';
import { createPlan } from '../../conductor/plan.js';
import { recoverInterrupted } from '../../conductor/recovery.js';
import {
  SCHEDULES,
  scheduleText,
  unitName,
  userUnitDir,
  type Schedule,
} from '../../conductor/schedule.js';
import { EXIT, UserError } from '../../errors.js';
import { displayPath } from '../../display-path.js';
import { jsonPath } from '../../paths.js';
import { runScan, type ScanSummary } from '../../scan/scanner.js';
import { open, printJson, say, warn, withGlobals, type GlobalOptions } from '../context.js';
import { parseFilterOpts, withFilterOptions, type FilterOpts } from '../filter-options.js';
import { countOf, formatBytes, formatCount } from '../format.js';
import { makeStyle, styleFor } from '../style.js';
import { stopRequested } from '../signals.js';
import { openLog, recoveryText, runPlan, type RunLog } from './run-plan.js';
import { scanJson } from './scan.js';

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

const MAIN_JS = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * The exact auto-execute command a schedule runs: absolute node, main.js, catalog, device; the
 * filters and keep rules in their canonical form (sizes in bytes, times with their offset,
 * prefer= prefixes absolute), so that the job means what was asked here.
 */
function scheduledArgv(
  opts: AutoOpts,
  device: string,
  catalog: string,
  filters: Filters,
  keep: readonly KeepRule[],
  scope: Scope,
): string[] {
  const argv = [
    process.execPath,
    realpathSync(MAIN_JS),
    'conductor',
    'auto-execute',
    '--device',
    // Absolute or an alias; with a scope, the alias and the directories as absolute PATHs below.
    device,
    '--min-savings',
    opts.minSavings.trim(),
  ];
  if (opts.rescan) argv.push('--rescan');
  for (const g of opts.scanExclude) argv.push('--scan-exclude', g);
  if (opts.oneFileSystem) argv.push('--one-file-system');
  const f = filters.toJson();
  if (f.min_size !== null) argv.push('--min-size', String(f.min_size));
  if (f.max_size !== null) argv.push('--max-size', String(f.max_size));
  if (f.mtime_since !== null) argv.push('--mtime-since', f.mtime_since);
  if (f.mtime_before !== null) argv.push('--mtime-before', f.mtime_before);
  for (const g of f.include) argv.push('--include', g);
  for (const g of f.exclude) argv.push('--exclude', g);
  for (const r of keep) argv.push('--keep', keepRuleText(r));
  argv.push('--mode', opts.mode, '--verify', opts.verify);
  argv.push('--catalog', catalog);
  if (opts.quiet) argv.push('--quiet');
  // After `--`: a directory named like an option stays a directory.
  if (scope.active) argv.push('--', ...scope.entries.map((e) => e.path.toString('utf8')));
  return argv;
}

function schedule(
  opts: AutoOpts,
  paths: string[],
  when: Schedule,
  minSavings: number,
  filters: Filters,
  keep: readonly KeepRule[],
): void {
  const catalog = catalogPath(opts.catalog);
  const { db } = open(opts, { readonly: true });
  let alias: string;
  let where: string;
  let scope: Scope;
  try {
    // The schedule must name a real device (and catalogued directories).
    const r = deviceAndScope(db, opts.device, paths);
    const device = r.device!;
    scope = r.scope;
    alias = device.alias;
    where = describeScope(scope.entries) ?? displayPath(device.mountPoint);
  } finally {
    db.close();
  }
  for (const e of scope.entries) {
    if (!isUtf8(e.path)) {
      throw new UserError(
        `cannot schedule ${displayPath(e.path)}: its name is not valid UTF-8, which unit files and crontabs cannot carry exactly; schedule a parent directory, or rename it`,
      );
    }
  }
  // An alias stays an alias; anything else was a path (`.`, `data`, `../pool`), made absolute:
  // cron starts jobs in $HOME and systemd in /, where a relative path names something else.
  const deviceArg =
    scope.active || (opts.device === alias && !alias.includes('/')) ? alias : resolve(opts.device);
  const argv = scheduledArgv(opts, deviceArg, catalog, filters, keep, scope);
  const name = unitName(alias, catalog, defaultCatalogPath());
  const text = scheduleText(
    name,
    when,
    argv,
    `deduplicate ${where} (${alias}) when that saves at least ${formatBytes(minSavings)}`,
  );
  const dir = userUnitDir();
  const servicePath = `${dir}/${name}.service`;
  const timerPath = `${dir}/${name}.timer`;
  const enable = `systemctl --user daemon-reload && systemctl --user enable --now ${name}.timer`;
  const installed: { path: string; state: 'written' | 'replaced' | 'unchanged' }[] = [];
  if (opts.install) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      for (const [path, body] of [
        [servicePath, text.service],
        [timerPath, text.timer],
      ] as const) {
        let old: string | undefined;
        try {
          old = readFileSync(path, 'utf8');
        } catch {
          old = undefined;
        }
        if (old !== body) writeFileSync(path, body, { mode: 0o644 });
        installed.push({
          path,
          state: old === undefined ? 'written' : old === body ? 'unchanged' : 'replaced',
        });
      }
    } catch (err) {
      throw new UserError(
        `cannot write the units to ${dir}: ${(err as Error).message}; print them without --install and copy them by hand`,
      );
    }
  }
  if (opts.json) {
    printJson({
      schedule: when,
      name,
      command: argv,
      service: text.service,
      timer: text.timer,
      crontab: text.crontab,
      service_path: servicePath,
      timer_path: timerPath,
      installed: opts.install ? installed : null,
      enable,
    });
    return;
  }
  const lines: string[] = [];
  if (opts.install) {
    lines.push(styleFor().status('ok', 'Installed the systemd user units:'));
    for (const i of installed) lines.push(`   ${i.path} (${i.state})`);
    lines.push(
      '',
      'Enable the timer with:',
      `   ${enable}`,
      'Run it without a login session (a server, or root): loginctl enable-linger $USER',
      `Check it with: systemctl --user list-timers ${name}.timer; logs: journalctl --user -u ${name}.service`,
    );
  } else {
    lines.push(
      `# ${servicePath}`,
      text.service,
      `# ${timerPath}`,
      text.timer,
      `# Enable: ${enable}`,
      '# (--install writes both files; loginctl enable-linger $USER runs them without a login)',
      '',
      '# Or a crontab line (crontab -e):',
      text.crontab,
    );
  }
  say(opts, lines.join('\n'));
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
    const { filters, keep } = parseFilterOpts(opts);
    if (opts.weekly && opts.schedule && opts.schedule !== 'weekly')
      throw new UserError(`--weekly and --schedule ${opts.schedule} disagree; give one of them`);
    const when = opts.schedule ?? (opts.weekly ? 'weekly' : undefined);
    if (opts.install && !when)
      throw new UserError('--install needs --schedule daily|weekly|monthly (or --weekly)');
    if (!opts.rescan && (opts.scanExclude.length > 0 || opts.oneFileSystem))
      throw new UserError('--scan-exclude and --one-file-system apply to --rescan; add --rescan');
    if (when) {
      schedule(opts, paths, when, minSavings, filters, keep);
      return;
    }
    await autoExecute(opts, paths, minSavings, filters, keep);
  });
}

async function autoExecute(
  opts: AutoOpts,
  paths: string[],
  minSavings: number,
  filters: Filters,
  keep: readonly KeepRule[],
): Promise<void> {
  const catalog = open(opts);
  const db = catalog.db;
  let log: RunLog | undefined;
  let locked = false;
  try {
    const resolved = deviceAndScope(db, opts.device, paths);
    const device = resolved.device!;
    const scope = resolved.scope;
    const scopeText = describeScope(scope.entries);
    // One executor per catalog, for the whole run: two overlapping timers cannot both act.
    acquireExecutorLock(db, 0);
    locked = true;
    const recovery = recoverInterrupted(db);
    const recovered = recoveryText(recovery, styleFor(process.stderr));
    if (recovered) warn(opts, recovered);
    log = openLog(catalog.path, `auto-execute-${device.alias.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
    log.write(
      `auto-execute ${displayPath(device.mountPoint)} (${device.alias})${scopeText ? ` scope ${scopeText}` : ''} min-savings ${minSavings} mode ${opts.mode} keep ${keep.map(keepRuleText).join(', ')}${filters.active ? ` filters ${JSON.stringify(filters.toJson())}` : ''} verify ${opts.verify}${opts.rescan ? ' rescan' : ''} pid ${process.pid}`,
    );
    if (recovered) log.write(recoveryText(recovery, makeStyle(false))!);
    const human = !opts.json && !opts.quiet;
    if (human) {
      process.stdout.write(
        `${styleFor().deco('🤖', 'AUTO-EXECUTE')} ${scopeText ?? displayPath(device.mountPoint)} (${device.alias}): run when the plan saves at least ${formatBytes(minSavings)} (${formatCount(minSavings)} bytes)\n`,
      );
    }

    let scan: ScanSummary | undefined;
    let missing: Buffer[] = [];
    if (opts.rescan) {
      const roots = scanRootsOf(db, device);
      missing = roots.missing;
      for (const m of missing) {
        warn(opts, `hashall: warning: scan root ${displayPath(m)} is gone or not mounted; skipped`);
        log.write(`scan root ${displayPath(m)} is gone or not mounted; skipped`);
      }
      if (roots.roots.length === 0) {
        throw new UserError(
          `--rescan: no scan root of ${device.alias} is reachable now (${missing.length ? 'all are gone or unmounted' : 'it was only ever scanned as part of another filesystem'}); scan it with 'hashall scan PATH'`,
        );
      }
      scan = await runScan(catalog, {
        roots: roots.roots.map((r) => r.toString()),
        exclude: opts.scanExclude,
        oneFileSystem: opts.oneFileSystem ?? false,
        shouldStop: stopRequested,
      });
      for (const e of scan.errors)
        warn(opts, `hashall: warning: ${displayPath(e.path)}: ${e.error}`);
      log.write(
        `rescan ${roots.roots.map((r) => displayPath(r)).join(', ')}: ${scan.files} files, ${scan.new} new, ${scan.changed} changed, ${scan.deleted} deleted, ${scan.errorCount} errors${scan.interrupted ? ', interrupted' : ''}`,
      );
      if (human) {
        process.stdout.write(
          `${styleFor().deco('🔄', 'Rescanned')} ${roots.roots.map((r) => displayPath(r)).join(', ')}: ${countOf(scan.files, 'file')}, ${formatCount(scan.new)} new, ${formatCount(scan.changed)} changed, ${formatCount(scan.deleted)} deleted${scan.errorCount ? `, ${countOf(scan.errorCount, 'error')}` : ''}\n`,
        );
      }
      if (scan.interrupted) {
        log.write('interrupted during the rescan: nothing planned');
        if (opts.json) printJson({ interrupted: true, rescan: scanJson(scan), plan: null });
        process.exitCode = EXIT.interrupted;
        return;
      }
    }

    const result = createPlan(db, {
      name: `auto-execute ${device.alias} ${new Date().toISOString()}`,
      device,
      scope,
      sameDevice: true,
      crossDevice: false,
      keep,
      filters,
      mode: opts.mode,
    });
    const { plan } = result;
    const mode = planMode(plan);
    const replacements = actionCounts(db, plan.id)
      .filter((c) => c.type === 'HARDLINK')
      .reduce((n, c) => n + c.n, 0);
    const label = actionLabel(mode, 'HARDLINK');
    const unsupported = result.reflink?.unsupported ?? [];
    for (const u of unsupported) {
      const line = `No reflinks on ${displayPath(u.device.mountPoint)} (${u.device.fsType}): ${u.reason}; nothing planned there`;
      warn(opts, styleFor(process.stderr).status('warning', line));
      log.write(line);
    }
    log.write(
      `plan #${plan.id}: ${replacements} ${label} actions, ${plan.bytesSaveable} bytes saveable (threshold ${minSavings})`,
    );
    const decision = decide(plan.bytesSaveable, replacements, minSavings);
    const planDoc = {
      id: decision.run ? plan.id : null,
      mode,
      actions: replacements,
      opportunities: plan.opportunities,
      bytes_saveable: plan.bytesSaveable,
      pending: plan.pendingGroups,
      keep: keep.map(keepRuleText),
      filters: filters.toJson(),
      scope: scope.toJson(),
      reflink_unsupported: unsupported.map((u) => ({
        device: u.device.alias,
        fs_type: u.device.fsType,
        reason: u.reason,
      })),
    };
    const common = {
      device: device.alias,
      ...jsonPath('mount_point', device.mountPoint),
      min_savings: minSavings,
      rescan: scan ? scanJson(scan) : null,
      missing_roots: missing.map((m) => m.toString('utf8')),
      plan: planDoc,
    };
    if (!decision.run) {
      discardPlan(db, plan.id);
      log.write(`nothing done: ${decision.reason}; the plan was discarded`);
      if (opts.json) {
        printJson({ ...common, ran: false, reason: decision.why, execution: null, log: log.path });
      } else if (human) {
        const why =
          decision.why === 'nothing'
            ? 'there is nothing to deduplicate'
            : `the plan would save ${formatBytes(plan.bytesSaveable)} (${formatCount(plan.bytesSaveable)} bytes), below --min-savings ${formatBytes(minSavings)}`;
        process.stdout.write(
          `${styleFor().deco('⏸️ ', 'Nothing done')}: ${why}. The plan was discarded; see ${log.path}\n`,
        );
      }
      process.exitCode = scan && scan.errorCount > 0 ? EXIT.partial : EXIT.ok;
      return;
    }
    acquireExecutorLock(db, plan.id); // name the plan in the lock we hold
    if (human) {
      process.stdout.write(
        `${styleFor().deco('📋', `Plan #${plan.id}`)}: ${countOf(replacements, `${label} action`)}, ${formatBytes(plan.bytesSaveable)} to save: executing\n\n`,
      );
    }
    const { summary, doc } = await runPlan(db, plan, {
      opts,
      dryRun: false,
      verify: opts.verify,
      verbose: false,
      replacements,
      log,
      recovery: undefined,
    });
    if (opts.json) printJson({ ...common, ran: true, reason: null, execution: doc, log: log.path });
    process.exitCode = summary.interrupted
      ? EXIT.interrupted
      : summary.failed > 0 || (scan && scan.errorCount > 0)
        ? EXIT.partial
        : EXIT.ok;
  } finally {
    log?.close();
    if (locked) releaseExecutorLock(db);
    db.close();
  }
}
