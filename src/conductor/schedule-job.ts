/**
 * `conductor auto-execute --schedule`: the exact command a scheduled job runs, its systemd user
 * units and crontab line (text from schedule.ts), and, with --install, writing the two units.
 * hashall never runs systemctl or crontab itself; the CLI prints what is returned here.
 */
import { isUtf8 } from 'node:buffer';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DeviceRow } from '../catalog/devices.js';
import { UserError } from '../errors.js';
import { displayPath } from '../display-path.js';
import { formatBytes } from '../format.js';
import type { Verify } from './execute/index.js';
import type { Filters } from './filters.js';
import { keepRuleText, type KeepRule } from './keep-rules.js';
import type { Mode } from './mode.js';
import {
  scheduleText,
  unitName,
  userUnitDir,
  type Schedule,
  type ScheduleText,
} from './schedule.js';
import { describeScope, type Scope } from './scope.js';
import type { Rescan } from './rescan.js';

export interface ScheduleRequest {
  readonly when: Schedule;
  /** `--device` as typed: an alias stays an alias, a path is made absolute. */
  readonly deviceArg: string;
  readonly device: DeviceRow;
  readonly scope: Scope;
  /** `--min-savings` as typed (trimmed into the command), and in bytes (for the description). */
  readonly minSavings: { readonly text: string; readonly bytes: number };
  readonly rescan: Rescan;
  readonly filters: Filters;
  readonly keep: readonly KeepRule[];
  readonly mode: Mode;
  readonly verify: Verify;
  readonly quiet: boolean;
  /** Absolute paths of the catalog, of the default catalog, and of the CLI's main.js. */
  readonly catalog: string;
  readonly defaultCatalog: string;
  readonly mainJs: string;
  /** `install`: write the units to the user's systemd directory; `print`: only return them. */
  readonly action: 'print' | 'install';
}

export type InstallState = 'written' | 'replaced' | 'unchanged';

export interface ScheduledJob {
  readonly name: string;
  readonly command: string[];
  readonly text: ScheduleText;
  readonly servicePath: string;
  readonly timerPath: string;
  /** The command that enables the timer (the user runs it). */
  readonly enable: string;
  /** What --install did to each unit file; undefined when printing only. */
  readonly installed: { path: string; state: InstallState }[] | undefined;
}

/**
 * The exact auto-execute command a schedule runs: absolute node, main.js, catalog, device; the
 * filters and keep rules in their canonical form (sizes in bytes, times with their offset,
 * prefer= prefixes absolute), so that the job means what was asked here.
 */
function scheduledArgv(req: ScheduleRequest, device: string): string[] {
  const argv = [
    process.execPath,
    req.mainJs,
    'conductor',
    'auto-execute',
    '--device',
    // Absolute or an alias; with a scope, the alias and the directories as absolute PATHs below.
    device,
    '--min-savings',
    req.minSavings.text.trim(),
  ];
  if (req.rescan.kind === 'rescan') {
    argv.push('--rescan');
    for (const g of req.rescan.exclude) argv.push('--scan-exclude', g);
    if (req.rescan.oneFileSystem) argv.push('--one-file-system');
  }
  const f = req.filters.toJson();
  if (f.min_size !== null) argv.push('--min-size', String(f.min_size));
  if (f.max_size !== null) argv.push('--max-size', String(f.max_size));
  if (f.mtime_since !== null) argv.push('--mtime-since', f.mtime_since);
  if (f.mtime_before !== null) argv.push('--mtime-before', f.mtime_before);
  for (const g of f.include) argv.push('--include', g);
  for (const g of f.exclude) argv.push('--exclude', g);
  for (const r of req.keep) argv.push('--keep', keepRuleText(r));
  argv.push('--mode', req.mode, '--verify', req.verify);
  argv.push('--catalog', req.catalog);
  if (req.quiet) argv.push('--quiet');
  // After `--`: a directory named like an option stays a directory.
  if (req.scope.active) argv.push('--', ...req.scope.entries.map((e) => e.path.toString('utf8')));
  return argv;
}

/** Write each unit unless it already holds exactly this text. */
function installUnits(
  dir: string,
  units: readonly (readonly [string, string])[],
): { path: string; state: InstallState }[] {
  const installed: { path: string; state: InstallState }[] = [];
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const [path, body] of units) {
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
  return installed;
}

export function scheduleJob(req: ScheduleRequest): ScheduledJob {
  const { device, scope } = req;
  for (const e of scope.entries) {
    if (!isUtf8(e.path)) {
      throw new UserError(
        `cannot schedule ${displayPath(e.path)}: its name is not valid UTF-8, which unit files and crontabs cannot carry exactly; schedule a parent directory, or rename it`,
      );
    }
  }
  const alias = device.alias;
  const where = describeScope(scope.entries) ?? displayPath(device.mountPoint);
  // An alias stays an alias; anything else was a path (`.`, `data`, `../pool`), made absolute:
  // cron starts jobs in $HOME and systemd in /, where a relative path names something else.
  const deviceArg =
    scope.active || (req.deviceArg === alias && !alias.includes('/'))
      ? alias
      : resolve(req.deviceArg);
  const command = scheduledArgv(req, deviceArg);
  const name = unitName(alias, req.catalog, req.defaultCatalog);
  const text = scheduleText(
    name,
    req.when,
    command,
    `deduplicate ${where} (${alias}) when that saves at least ${formatBytes(req.minSavings.bytes)}`,
  );
  const dir = userUnitDir();
  const servicePath = `${dir}/${name}.service`;
  const timerPath = `${dir}/${name}.timer`;
  return {
    name,
    command,
    text,
    servicePath,
    timerPath,
    enable: `systemctl --user daemon-reload && systemctl --user enable --now ${name}.timer`,
    installed:
      req.action === 'install'
        ? installUnits(dir, [
            [servicePath, text.service],
            [timerPath, text.timer],
          ])
        : undefined,
  };
}
