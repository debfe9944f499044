import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { EXIT } from '../../errors.js';
import { describeRecovery, recoverBeforeScan, type RunEvent } from '../../conductor/run.js';
import { recoveryEventText } from '../render/recovery.js';
import { displayPath } from '../../display-path.js';
import { jsonPath } from '../../paths.js';
import { argBytes } from '../raw-argv.js';
import { runScan, type HashMode, type ScanSummary } from '../../scan/scanner.js';
import { withGlobals, open, printJson, say, warn, type GlobalOptions } from '../context.js';
import { countOf, formatBytes, formatCount } from '../../format.js';
import { formatDuration } from '../format.js';
import { styleFor, type Style } from '../style.js';
import { progressWanted, scanProgress } from '../progress.js';
import { stopRequested } from '../signals.js';
import { warnScan } from '../render/rescan.js';

interface ScanCliOptions extends GlobalOptions {
  oneFileSystem?: boolean;
  exclude: string[];
  hash: HashMode;
  jobs?: number;
}

function parseJobs(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 256)
    throw new InvalidArgumentError('give a whole number from 1 to 256');
  return n;
}

function parseHashMode(v: string): HashMode {
  if (v !== 'candidates' && v !== 'all')
    throw new InvalidArgumentError("use 'candidates' or 'all'");
  return v;
}

export function scanJson(s: ScanSummary): unknown {
  return {
    roots: s.roots.map((r) => ({
      ...jsonPath('root', r.root),
      scan_id: r.scanId,
      device: r.device,
      status: r.status,
    })),
    files: s.files,
    directories: s.dirs,
    new: s.new,
    changed: s.changed,
    unchanged: s.unchanged,
    moved: s.moved,
    deleted: s.deleted,
    hashed_files: s.hashedFiles,
    hashed_bytes: s.hashedBytes,
    changed_while_hashing: s.hashChanged,
    skipped: s.skipped,
    pruned: s.pruned,
    errors: s.errors.map((e) => ({ ...jsonPath('path', e.path), error: e.error })),
    error_count: s.errorCount,
    pending: s.pending,
    interrupted: s.interrupted,
    recovered_scans: s.recovered.map((r) => ({
      ...jsonPath('root', r.root),
      started_at: new Date(r.startedAt).toISOString(),
    })),
    elapsed_ms: s.elapsedMs,
  };
}

/** The noun of each kind of entry a scan never opens ('device' alone would read as a filesystem). */
const SKIP_NOUN: Record<string, string> = {
  device: 'device node',
  other: 'other entry',
  catalog: 'catalog file',
};

function render(s: ScanSummary, st: Style): string {
  const skipped = Object.entries(s.skipped)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => countOf(n, SKIP_NOUN[k] ?? k))
    .join(', ');
  // 'excluded' is a state, not a noun: '3 excluded' either way.
  const pruned = Object.entries(s.pruned)
    .filter(([, n]) => n > 0)
    .map(([k, n]) =>
      k === 'excluded' ? `${formatCount(n)} excluded` : countOf(n, k.replace('_', ' ')),
    )
    .join(', ');
  const where = s.roots.map((r) => `${displayPath(r.root)} (${r.device})`).join(', ');
  const lines = [
    s.interrupted
      ? st.status('warning', `Scan interrupted: ${where}`)
      : st.status('ok', `Scan complete: ${where}`),
    `   Files: ${countOf(s.files, 'file')} in ${countOf(s.dirs, 'directory')}`,
    `   New: ${formatCount(s.new)}  Changed: ${formatCount(s.changed)}  Unchanged: ${formatCount(s.unchanged)}  Moved: ${formatCount(s.moved)}  Deleted: ${formatCount(s.deleted)}`,
    `   Hashed: ${countOf(s.hashedFiles, 'file')}, ${formatBytes(s.hashedBytes)}${s.hashChanged ? ` (${formatCount(s.hashChanged)} changed while hashing)` : ''}`,
  ];
  if (skipped) lines.push(`   Skipped (never opened): ${skipped}`);
  if (pruned) lines.push(`   Not descended: ${pruned}`);
  // After a stop the likely reason is the stop itself (inodes of several links are hashed after
  // the walk); otherwise, what kept the hash stages from them.
  const why = s.interrupted
    ? 'the scan stopped first: scan again to finish'
    : 'offline, unreadable or changed';
  if (s.pending)
    lines.push(
      `   Pending: ${countOf(s.pending, 'candidate inode')} still ${s.pending === 1 ? 'needs' : 'need'} hashing (${why})`,
    );
  if (s.errorCount) lines.push(`   Errors: ${formatCount(s.errorCount)}`);
  lines.push(`   Elapsed: ${formatDuration(s.elapsedMs)}`);
  return lines.join('\n');
}

/**
 * A scan's note on the recovery it did first, when it did something: a recovery that found the
 * rows gone (a live run finished them meanwhile) has nothing to tell.
 */
export function warnScanRecovery(opts: GlobalOptions): (e: RunEvent) => void {
  return (e) => {
    if (e.kind === 'recovered-execute') {
      const r = e.report;
      if (describeRecovery(r) === undefined) return;
      warn(
        opts,
        styleFor(process.stderr).deco(
          '🔧',
          `Recovered an interrupted execute: ${countOf(r.rolledForward, 'action')} completed, ${formatCount(r.rolledBack)} rolled back, ${countOf(r.tempLinksRemoved, 'temporary link')} removed`,
        ),
      );
      return;
    }
    const text = recoveryEventText(e);
    if (text) warn(opts, text);
  };
}

export function registerScan(program: Command): void {
  withGlobals(
    program
      .command('scan')
      .description('catalogue every regular file under ROOT(s); a rescan reads only what changed')
      .argument('<root...>', 'directories to scan')
      .option('-x, --one-file-system', 'do not descend into other filesystems mounted below a root')
      .option(
        '--exclude <glob>',
        'skip entries matching GLOB (a name glob, or a path glob relative to the root when it holds "/"); repeatable',
        (v: string, acc: string[]) => [...acc, v],
        [] as string[],
      )
      .option(
        '--hash <mode>',
        "'candidates' (hash only possible duplicates) or 'all'",
        parseHashMode,
        'candidates',
      )
      .option(
        '-j, --jobs <n>',
        'hashing threads (default: CPU count, at most 8; 1 suits a single spinning disk)',
        parseJobs,
      ),
  ).action(async (roots: string[], opts: ScanCliOptions) => {
    const catalog = await open(opts);
    await recoverBeforeScan(catalog, warnScanRecovery(opts));
    const progress = scanProgress(progressWanted(opts.quiet));
    let summary: ScanSummary;
    try {
      summary = await runScan(catalog, {
        // The bytes typed: a root named in Latin-1 reaches Node as U+FFFD (src/cli/raw-argv.ts).
        roots: roots.map(argBytes),
        oneFileSystem: opts.oneFileSystem ?? false,
        exclude: opts.exclude,
        hash: opts.hash,
        ...(opts.jobs ? { jobs: opts.jobs } : {}),
        shouldStop: stopRequested,
        onProgress: (p) => progress.update(p),
      });
    } finally {
      progress.stop();
      await catalog.close();
    }
    warnScan(opts, summary);
    if (opts.json) printJson(scanJson(summary));
    else say(opts, render(summary, styleFor()));
    process.exitCode = summary.interrupted
      ? EXIT.interrupted
      : summary.errorCount > 0
        ? EXIT.partial
        : EXIT.ok;
  });
}
