/** Run the built CLI as a real process. */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** Run as this uid/gid (setpriv), for tests that need permissions to apply. */
  readonly asUser?: { uid: number; gid: number };
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** Run under this open-files limit, soft and hard (prlimit(1); see prlimitUnavailable). */
  readonly nofile?: number;
}

/** Why prlimit(1) cannot set limits here, or undefined when it can. */
export function prlimitUnavailable(): string | undefined {
  const r = spawnSync('prlimit', ['--nofile=256:256', 'true'], { encoding: 'utf8' });
  if (r.error) return `prlimit(1) is not installed (util-linux): ${r.error.message}`;
  if (r.status !== 0) return `prlimit(1) cannot set RLIMIT_NOFILE: ${r.stderr.trim()}`;
  return undefined;
}

export function hashall(args: readonly string[], opts: CliOptions = {}): CliResult {
  const base = [
    ...(opts.nofile === undefined ? [] : ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`]),
    process.execPath,
    CLI,
    ...args,
  ];
  const argv = opts.asUser
    ? [
        'setpriv',
        `--reuid=${opts.asUser.uid}`,
        `--regid=${opts.asUser.gid}`,
        '--clear-groups',
        ...base,
      ]
    : base;
  const spawnOpts: SpawnSyncOptions = {
    encoding: 'utf8',
    env: { ...process.env, HASHALL_CATALOG: '', ...opts.env },
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  };
  const r = spawnSync(argv[0]!, argv.slice(1), spawnOpts);
  if (r.error) throw r.error;
  const stdout = String(r.stdout);
  return {
    code: r.status,
    signal: r.signal,
    stdout,
    stderr: String(r.stderr),
    json<T>() {
      return JSON.parse(stdout) as T;
    },
  };
}
