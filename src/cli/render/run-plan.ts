/**
 * Reporting a plan's run: what `conductor execute` and `conductor auto-execute` share (the
 * progress bar, the action lines, the summary, the JSON document). The run itself, and its log
 * lines, are the conductor's (conductor/plan-run.ts).
 */
import type { Catalog } from '../../catalog/port.js';
import type { PlanRow } from '../../catalog/plans.js';
import type { ActionReport, ExecuteSummary, Verify } from '../../conductor/execute/index.js';
import { pathText, runPlanActions } from '../../conductor/plan-run.js';
import { actionLabel, planMode } from '../../conductor/mode.js';
import type { RecoveryReport } from '../../conductor/recovery.js';
import type { RunLog } from '../../conductor/run-log.js';
import { jsonPath } from '../../paths.js';
import type { GlobalOptions } from '../context.js';
import { countOf, formatBytes, formatCount } from '../../format.js';
import { progressWanted, runProgress, type RunWork } from '../progress.js';
import { styleFor } from '../style.js';
import { stopRequested } from '../signals.js';

export const RULE = '═'.repeat(51);

/** Plans of at most this many HARDLINK (REFLINK) actions print every action, as the guide shows. */
export const SMALL_PLAN = 20;
/** Failures printed one by one; the rest are counted (every one is in the log and --json). */
const FAILURES_SHOWN = 1000;

export interface RunRequest {
  readonly opts: GlobalOptions;
  readonly verify: Verify;
  /** HARDLINK (REFLINK) actions in the plan, for the header. */
  readonly replacements: number;
  /** Print every action, whatever the size of the plan. */
  readonly verbose: boolean;
  /**
   * A dry run (no lock, no log: it changes nothing), or a real run inside an executor run:
   * its log, and the recovery it did first (reported in the JSON; auto-execute: none).
   */
  readonly run:
    | { readonly kind: 'dry-run' }
    | { readonly kind: 'real'; readonly log: RunLog; readonly recovery?: RecoveryReport };
}

/** An action as execute prints it: `target ← source`, as show-plan does. */
function actionBlock(label: string, r: ActionReport, mark: string): string {
  return `${label}: ${pathText(r.targetAbs)}\n  ← ${pathText(r.sourceAbs)}\n  Saves: ${formatCount(r.action.bytes)} bytes\n  ${mark}\n\n`;
}

/**
 * Run `plan` (the caller holds the executor lock and has recovered). On a terminal: a progress
 * bar and the summary, with a block per failure (per action for a small plan or --verbose);
 * elsewhere the same without the bar; with --quiet only failures, one line each on stderr.
 * Returns the summary and the JSON document of `execute --json`.
 */
export async function runPlan(
  catalog: Catalog,
  plan: PlanRow,
  req: RunRequest,
): Promise<{ summary: ExecuteSummary; doc: Record<string, unknown> }> {
  const { opts } = req;
  const dryRun = req.run.kind === 'dry-run';
  const log = req.run.kind === 'real' ? req.run.log : undefined;
  const recovery = req.run.kind === 'real' ? req.run.recovery : undefined;
  const mode = planMode(plan);
  const label = actionLabel(mode, 'HARDLINK');
  const human = !opts.json && !opts.quiet;
  const st = styleFor();
  if (human) {
    process.stdout.write(
      [
        `${dryRun ? st.deco('🔍', 'DRY RUN') : st.deco('⚡', 'EXECUTING')} Plan #${plan.id}: ${plan.name}${mode === 'reflink' ? ' (reflink)' : ''}`,
        `Actions to perform: ${formatCount(req.replacements)}`,
        RULE,
        '',
      ].join('\n') + '\n',
    );
  }
  const every = req.verbose || req.replacements <= SMALL_PLAN;
  const work: RunWork = await catalog.execution.replacements(plan.id);
  const bar = runProgress(
    human && progressWanted(opts.quiet),
    work,
    dryRun ? 'checking' : 'executing',
  );
  const failures: ActionReport[] = [];
  let failuresShown = 0;
  const onAction = (r: ActionReport) => {
    const o = r.outcome;
    if (o.kind === 'failed' && failures.length < 10_000) failures.push(r);
    if (o.kind === 'failed' && !human && opts.quiet) {
      if (failuresShown++ < FAILURES_SHOWN)
        process.stderr.write(
          `hashall: error: ${actionLabel(mode, r.action.type)} #${r.action.id} failed: ${pathText(r.targetAbs)} ← ${pathText(r.sourceAbs)}: ${o.error}\n`,
        );
      return;
    }
    if (!human || r.action.type !== 'HARDLINK') return;
    if (o.kind !== 'failed' && !every) return;
    if (o.kind === 'failed' && !every && failuresShown++ >= FAILURES_SHOWN) return;
    const mark =
      o.kind === 'executed'
        ? st.emoji
          ? '✅ Success'
          : 'ok'
        : o.kind === 'would-link'
          ? st.deco(
              '🔍',
              `Would ${mode === 'reflink' ? 'clone' : 'link'} (checked: identity and bytes)`,
            )
          : o.kind === 'noop'
            ? st.deco('➖', `NOOP: ${o.why}`)
            : st.emoji
              ? `❌ Failed: ${o.error}`
              : `FAILED: ${o.error}`;
    bar.print(process.stdout, actionBlock(label, r, mark));
  };
  let summary: ExecuteSummary;
  try {
    summary = await runPlanActions(
      {
        catalog,
        plan,
        run: req.run.kind === 'real' ? { kind: 'real', log: req.run.log } : { kind: 'dry-run' },
        verify: req.verify,
        shouldStop: stopRequested,
      },
      (e) => {
        if (e.kind === 'action') onAction(e.report);
        else if (e.action.type === 'HARDLINK') bar.action(e.action.bytes);
      },
    );
  } finally {
    bar.stop();
  }
  if (!human && opts.quiet && failuresShown > FAILURES_SHOWN) {
    process.stderr.write(
      `hashall: error: ${countOf(failuresShown - FAILURES_SHOWN, 'more failure')} not shown${log ? `: see ${log.path}` : ''}\n`,
    );
  }
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
    recovery: recovery
      ? {
          rolled_forward: recovery.rolledForward,
          rolled_back: recovery.rolledBack,
          temp_links_removed: recovery.tempLinksRemoved,
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
        st.deco(
          '🔍',
          `Would ${mode === 'reflink' ? 'clone' : 'link'}: ${formatCount(summary.wouldLink)} (${formatBytes(summary.wouldSave)})`,
        ),
      );
    } else {
      lines.push(st.deco('✅', `Executed: ${formatCount(summary.executed)}`));
    }
    lines.push(
      st.emoji
        ? `➖ NOOP: ${formatCount(summary.noop)}  ⏭️  Skipped: ${formatCount(summary.skipped)}`
        : `NOOP: ${formatCount(summary.noop)}  Skipped: ${formatCount(summary.skipped)}`,
    );
    const failedText = `${formatCount(summary.failed)}${dryRun && summary.failed ? ` (stale or changed: a real run would not ${mode === 'reflink' ? 'clone' : 'link'} these)` : ''}`;
    lines.push(
      st.emoji
        ? `❌ Failed: ${failedText}`
        : `${summary.failed ? 'FAILED' : 'Failed'}: ${failedText}`,
    );
    if (failuresShown > FAILURES_SHOWN)
      lines.push(
        `   (${countOf(failuresShown - FAILURES_SHOWN, 'more failure')} not shown: see the log)`,
      );
    if (!dryRun) {
      // This run's figure; the plan's total beside it when earlier runs did part of it.
      const total =
        summary.planBytesSaved !== summary.bytesSaved
          ? `; ${formatBytes(summary.planBytesSaved)} by this plan in all`
          : '';
      lines.push(
        st.deco(
          '💾',
          mode === 'reflink'
            ? `Now shared: ${formatBytes(summary.bytesSaved)} (${formatCount(summary.bytesSaved)} bytes of the targets' own blocks, freed by sharing the kept copies')${total}`
            : `Freed: ${formatBytes(summary.bytesSaved)} (${formatCount(summary.bytesSaved)} bytes)${total}`,
        ),
      );
    }
    if (summary.interrupted)
      lines.push(
        st.status(
          'warning',
          `Interrupted: run 'hashall conductor execute ${plan.id}' again to resume`,
        ),
      );
    if (log) lines.push('', `See ${log.path} for details`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return { summary, doc };
}
