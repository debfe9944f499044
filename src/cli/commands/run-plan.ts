/**
 * Running a plan and reporting it: what `conductor execute` and `conductor auto-execute` share
 * (the action lines, the execution log, the summary, the JSON document).
 */
import { closeSync, writeSync } from 'node:fs';
import type { DB } from '../../catalog/open.js';
import type { PlanRow } from '../../catalog/plans.js';
import {
  Executor,
  type ActionReport,
  type ExecuteSummary,
  type Verify,
} from '../../conductor/execute.js';
import { actionLabel, planMode } from '../../conductor/mode.js';
import type { RecoveryReport } from '../../conductor/recovery.js';
import { displayPath, jsonPath } from '../../paths.js';
import type { GlobalOptions } from '../context.js';
import { createLogFile } from '../log-file.js';
import { formatBytes, formatCount } from '../format.js';
import { stopRequested } from '../signals.js';

export const RULE = '═'.repeat(51);

export interface RunLog {
  readonly path: string;
  write(line: string): void;
  close(): void;
}

/** Buffered log text written out at this size at the latest. */
const LOG_FLUSH_BYTES = 64 * 1024;

/**
 * A log file under `<catalog dir>/logs/` (0700 directory, 0600 file; named by log-file.ts).
 * Lines are buffered and written on the next turn of the event loop (an executor yields at least every 50 ms), at
 * 64 KiB, on close and at exit: one write per burst of action reports, not one per action.
 */
export function openLog(catalogPath: string, name: string): RunLog {
  const { path, fd } = createLogFile(catalogPath, name);
  let buf: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (buf.length === 0) return;
    const text = buf.join('');
    buf = [];
    bytes = 0;
    writeSync(fd, text);
  };
  // A second Ctrl-C exits at once: what is buffered is still written.
  process.on('exit', flush);
  return {
    path,
    write: (line) => {
      const text = `${new Date().toISOString()} ${line}\n`;
      buf.push(text);
      bytes += text.length;
      if (bytes >= LOG_FLUSH_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close: () => {
      process.off('exit', flush);
      flush();
      closeSync(fd);
    },
  };
}

export function recoveryText(r: RecoveryReport): string | undefined {
  const n = r.rolledForward + r.rolledBack;
  if (n === 0 && r.tempLinksRemoved === 0) return undefined;
  return `🔧 Recovered an interrupted run: ${r.rolledForward} action(s) completed, ${r.rolledBack} rolled back, ${r.tempLinksRemoved} temporary link(s) removed`;
}

export interface RunRequest {
  readonly opts: GlobalOptions;
  readonly dryRun: boolean;
  readonly verify: Verify;
  /** HARDLINK (REFLINK) actions in the plan, for the header. */
  readonly replacements: number;
  readonly log: RunLog | undefined;
  readonly recovery: RecoveryReport | undefined;
}

/**
 * Run `plan` (the caller holds the executor lock and has recovered), printing each action and
 * the summary on a terminal; returns the summary and the JSON document of `execute --json`.
 */
export async function runPlan(
  db: DB,
  plan: PlanRow,
  req: RunRequest,
): Promise<{ summary: ExecuteSummary; doc: Record<string, unknown> }> {
  const { opts, dryRun, log } = req;
  const mode = planMode(plan);
  const label = actionLabel(mode, 'HARDLINK');
  const human = !opts.json && !opts.quiet;
  if (human) {
    process.stdout.write(
      [
        `${dryRun ? '🔍 DRY RUN' : '⚡ EXECUTING'} Plan #${plan.id}: ${plan.name}${mode === 'reflink' ? ' (reflink)' : ''}`,
        `Actions to perform: ${formatCount(req.replacements)}`,
        RULE,
        '',
      ].join('\n') + '\n',
    );
  }
  const failures: ActionReport[] = [];
  const toText = (b: Buffer | undefined) => (b ? displayPath(b) : '(not mounted)');
  const onAction = (r: ActionReport) => {
    const o = r.outcome;
    if (o.kind === 'failed' && failures.length < 10_000) failures.push(r);
    log?.write(
      `${actionLabel(mode, r.action.type)} #${r.action.id} ${o.kind}${o.kind === 'failed' ? `: ${o.error}` : o.kind === 'noop' ? `: ${o.why}` : ''} target=${toText(r.targetAbs)} source=${toText(r.sourceAbs)}`,
    );
    if (!human || r.action.type !== 'HARDLINK') return;
    const mark =
      o.kind === 'executed'
        ? '✅ Success'
        : o.kind === 'would-link'
          ? `🔍 Would ${mode === 'reflink' ? 'clone' : 'link'} (checked: identity and bytes)`
          : o.kind === 'noop'
            ? `➖ NOOP: ${o.why}`
            : `❌ Failed: ${o.error}`;
    process.stdout.write(
      `${label}: ${toText(r.targetAbs)}\n  → ${toText(r.sourceAbs)}\n  Saves: ${formatCount(r.action.bytes)} bytes\n  ${mark}\n\n`,
    );
  };
  const summary = await new Executor(db, plan, {
    dryRun,
    verify: req.verify,
    shouldStop: stopRequested,
    onAction,
  }).run();
  log?.write(
    `done: status ${summary.status}, executed ${summary.executed}, noop ${summary.noop}, failed ${summary.failed}, skipped ${summary.skipped}, bytes ${mode === 'reflink' ? 'shared' : 'freed'} ${summary.bytesSaved} (plan in all: ${summary.planBytesSaved})`,
  );
  const doc: Record<string, unknown> = {
    plan_id: plan.id,
    mode,
    dry_run: dryRun,
    executed: summary.executed,
    would_link: summary.wouldLink,
    noop: summary.noop,
    failed: summary.failed,
    skipped: summary.skipped,
    bytes_saved: summary.bytesSaved,
    plan_bytes_saved: summary.planBytesSaved,
    would_save: summary.wouldSave,
    status: dryRun ? plan.status : summary.status,
    interrupted: summary.interrupted,
    log: log?.path ?? null,
    recovery: req.recovery
      ? {
          rolled_forward: req.recovery.rolledForward,
          rolled_back: req.recovery.rolledBack,
          temp_links_removed: req.recovery.tempLinksRemoved,
        }
      : null,
    failures: failures.map((f) => ({
      id: f.action.id,
      ...jsonPath('target', f.targetAbs ?? f.action.targetPath),
      ...jsonPath('source', f.sourceAbs ?? f.action.sourcePath),
      error: f.outcome.kind === 'failed' ? f.outcome.error : '',
    })),
  };
  if (human) {
    const lines = [RULE];
    if (dryRun) {
      lines.push(
        `🔍 Would ${mode === 'reflink' ? 'clone' : 'link'}: ${formatCount(summary.wouldLink)} (${formatBytes(summary.wouldSave)})`,
      );
    } else {
      lines.push(`✅ Executed: ${formatCount(summary.executed)}`);
    }
    lines.push(
      `➖ NOOP: ${formatCount(summary.noop)}  ⏭️  Skipped: ${formatCount(summary.skipped)}`,
    );
    lines.push(
      `❌ Failed: ${formatCount(summary.failed)}${dryRun && summary.failed ? ` (stale or changed: a real run would not ${mode === 'reflink' ? 'clone' : 'link'} these)` : ''}`,
    );
    if (!dryRun) {
      // This run's figure; the plan's total beside it when earlier runs did part of it.
      const total =
        summary.planBytesSaved !== summary.bytesSaved
          ? `; ${formatBytes(summary.planBytesSaved)} by this plan in all`
          : '';
      lines.push(
        mode === 'reflink'
          ? `💾 Now shared: ${formatBytes(summary.bytesSaved)} (${formatCount(summary.bytesSaved)} bytes of the targets' own blocks, freed by sharing the kept copies')${total}`
          : `💾 Freed: ${formatBytes(summary.bytesSaved)} (${formatCount(summary.bytesSaved)} bytes)${total}`,
      );
    }
    if (summary.interrupted)
      lines.push(`⚠️  Interrupted: run 'hashall conductor execute ${plan.id}' again to resume`);
    if (log) lines.push('', `See ${log.path} for details`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return { summary, doc };
}
