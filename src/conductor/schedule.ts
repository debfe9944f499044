/**
 * Scheduled runs of `conductor auto-execute`: a systemd user service + timer pair and a crontab
 * line that run one exact command line (absolute node, absolute main.js, absolute catalog).
 * Pure text generation; the CLI prints it, or writes the units with --install. hashall never
 * calls systemctl or crontab itself.
 */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type Schedule = 'daily' | 'weekly' | 'monthly';
export const SCHEDULES: readonly Schedule[] = ['daily', 'weekly', 'monthly'];

/** Fixed times (03:30; Sunday; the 1st): cron has no "randomized delay". */
const CRON_FIELDS: Record<Schedule, string> = {
  daily: '30 3 * * *',
  weekly: '30 3 * * 0',
  monthly: '30 3 1 * *',
};

/**
 * One argument for a systemd Exec line: bare when it holds only safe characters, else in double
 * quotes with `\` and `"` escaped. `%` (specifiers) and `$` (environment variables) are expanded
 * by systemd inside quotes too, so they are doubled.
 */
export function systemdQuote(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')}"`;
}

/** One argument for sh(1): bare when safe, else in single quotes ('\'' for a quote). */
export function shQuote(arg: string): string {
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line for a crontab: sh quoting, and `%` escaped (cron turns % into newlines). */
export function cronCommand(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ').replace(/%/g, '\\%').replace(/\n/g, ' ');
}

/**
 * `hashall-auto-ALIAS`, plus a short hash of the catalog when it is not the default one, so
 * that two catalogs' schedules for devices of the same alias never collide.
 */
export function unitName(alias: string, catalog: string, defaultCatalog: string): string {
  const slug = alias.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60) || 'device';
  const tag =
    catalog === defaultCatalog
      ? ''
      : `-${createHash('sha256').update(catalog).digest('hex').slice(0, 8)}`;
  return `hashall-auto-${slug}${tag}`;
}

export interface ScheduleText {
  readonly name: string;
  readonly service: string;
  readonly timer: string;
  readonly crontab: string;
}

/** Unit file text can hold anything in Description except newlines. */
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');

export function scheduleText(
  name: string,
  schedule: Schedule,
  argv: readonly string[],
  what: string,
): ScheduleText {
  const service = [
    '[Unit]',
    `Description=${oneLine(`hashall: ${what}`).replace(/%/g, '%%')}`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${argv.map(systemdQuote).join(' ')}`,
    'Nice=10',
    'IOSchedulingClass=idle',
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    `Description=${oneLine(`hashall: ${schedule} run of ${name}.service`)}`,
    '',
    '[Timer]',
    `OnCalendar=${schedule}`,
    'Persistent=true',
    'RandomizedDelaySec=1h',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { name, service, timer, crontab: `${CRON_FIELDS[schedule]} ${cronCommand(argv)}` };
}

/** Where systemd looks for user units: $XDG_CONFIG_HOME/systemd/user, else ~/.config/…. */
export function userUnitDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.startsWith('/')
    ? env.XDG_CONFIG_HOME
    : join(env.HOME || homedir(), '.config');
  return join(base, 'systemd', 'user');
}
