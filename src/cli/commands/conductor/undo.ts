/** `conductor undo ID` (issue 12 §5): give the paths a plan replaced their own copies back. */
import type { Command } from 'commander';
import type { PlanRow } from '../../../catalog/plans.js';
import { pathText, runUndoActions } from '../../../conductor/plan-run.js';
import { recoveryPending, withExecutorRun, type ExecutorRun } from '../../../conductor/run.js';
import { checkUndoable, type UndoCatalog, type UndoSummary } from '../../../conductor/undo.js';
import type { UndoReport } from '../../../conductor/undo-types.js';
import type { Catalog } from '../../../catalog/port.js';
import { checkUndoSpace, type SpaceCheck } from '../../../conductor/undo-space.js';
import { EXIT, UserError } from '../../../errors.js';
import { displayPath } from '../../../display-path.js';
import { jsonPath } from '../../../paths.js';
import { styleFor, type Style } from '../../style.js';
import { confirmUndo } from '../../render/prompt.js';
import { parsePlanId, requirePlan } from './args.js';
import { open, printJson, say, warn, withGlobals, type GlobalOptions } from '../../context.js';
import { countOf, formatBytes, formatCount } from '../../../format.js';
import { stopRequested } from '../../signals.js';
import { warnRecovery } from '../../render/recovery.js';
import { RULE } from '../../render/run-plan.js';

function spaceText(s: SpaceCheck): string {
  return `${s.device}${s.mountPoint ? ` (${displayPath(s.mountPoint)})` : ''}: needs ${formatBytes(s.needed)} (${formatCount(s.needed)} bytes) for ${formatCount(s.paths)} copies, ${s.available === undefined ? 'free space unknown' : `${formatBytes(s.available)} (${formatCount(s.available)} bytes) available`}`;
}

interface UndoOpts extends GlobalOptions {
  dryRun?: boolean;
  force?: boolean;
}

function outcomeMark(r: UndoReport, st: Style): string {
  const o = r.outcome;
  switch (o.kind) {
    case 'restored':
      return st.status(
        'ok',
        `Restored: its own copy${o.legacy ? " (metadata not recorded at execute: owner/group/mode and the plan's mtime; the kept file's atime)" : ', with its owner, group, mode and times'}`,
      );
    case 'would-restore':
      return st.deco('🔍', 'Would restore (checked: still the kept file, content hash)');
    case 'left':
      return st.status('warning', `Left alone: ${o.why}`);
    case 'failed':
      return st.status('failed', `Failed: ${o.error}`);
  }
}

async function runUndo(id: number, opts: UndoOpts): Promise<void> {
  const dryRun = opts.dryRun ?? false;
  const cat = await open(opts, { readonly: dryRun });
  try {
    const plan = await requirePlan(cat, id);
    checkUndoable(plan);
    const paths = (await cat.undo.needs(id)).reduce((n, d) => n + d.actions, 0);
    if (!dryRun && !opts.force) {
      if (!process.stdin.isTTY) {
        throw new UserError(
          `refusing to undo plan ${id} without --force when not on a terminal; check it with 'hashall conductor undo ${id} --dry-run', then add --force`,
        );
      }
      if (!(await confirmUndo(plan, paths))) {
        say(opts, 'Nothing done.');
        return;
      }
    }
    if (dryRun) {
      const pending = await recoveryPending(cat);
      if (pending.execute || pending.undo) {
        warn(
          opts,
          'hashall: note: an interrupted run left work to recover; the next real undo or execute will recover it first',
        );
      }
      const space = await spaceOrRefuse(cat, id);
      await undoPlan({ catalog: cat, plan, opts, paths, space, run: undefined });
      return;
    }
    let space: SpaceCheck[] = [];
    await withExecutorRun(
      {
        catalog: cat,
        planId: id,
        log: {
          name: `conductor-undo-${id}`,
          header: `undo plan #${plan.id} "${plan.name}" pid ${process.pid}`,
        },
        // Recovery may have changed the plan; a refusal leaves no log behind.
        check: async () => {
          checkUndoable(await requirePlan(cat, id));
          space = await spaceOrRefuse(cat, id);
        },
        onEvent: warnRecovery(opts),
      },
      async (run) =>
        undoPlan({ catalog: cat, plan: await requirePlan(cat, id), opts, paths, space, run }),
    );
  } finally {
    await cat.close();
  }
}

/** Refuse (changing nothing) when a filesystem lacks the space the copies need. */
async function spaceOrRefuse(
  catalog: Pick<Catalog, 'undo' | 'planDevices'>,
  id: number,
): Promise<SpaceCheck[]> {
  const space = await checkUndoSpace(catalog, id);
  const short = space.filter((s) => !s.fits);
  if (short.length > 0) {
    throw new UserError(
      `not enough free space to undo plan ${id}: ${short.map(spaceText).join('; ')}; free some space first (nothing was changed)`,
    );
  }
  return space;
}

interface UndoRequest {
  readonly catalog: UndoCatalog;
  readonly plan: PlanRow;
  readonly opts: UndoOpts;
  /** Linked paths to restore, for the header. */
  readonly paths: number;
  readonly space: SpaceCheck[];
  /** The real run (lock, log, recovery); undefined for --dry-run. */
  readonly run: ExecutorRun | undefined;
}

/** Run the undo (or its dry run) and render it. */
async function undoPlan(req: UndoRequest): Promise<void> {
  const { catalog, plan, opts, paths, space, run } = req;
  const dryRun = run === undefined;
  const log = run?.log;
  const human = !opts.json && !opts.quiet;
  const st = styleFor();
  if (human) {
    process.stdout.write(
      [
        st.deco(
          dryRun ? '🔍' : '↩️ ',
          `${dryRun ? 'DRY RUN' : 'UNDOING'} Plan #${plan.id}: ${plan.name}`,
        ),
        `Paths to restore: ${formatCount(paths)}`,
        ...space.map((s) => `Space: ${spaceText(s)}`),
        RULE,
        '',
      ].join('\n') + '\n',
    );
  }
  const left: UndoReport[] = [];
  const failures: UndoReport[] = [];
  const summary: UndoSummary = await runUndoActions(
    {
      catalog,
      plan,
      run: run ? { kind: 'real', log: run.log } : { kind: 'dry-run' },
      shouldStop: stopRequested,
    },
    (r) => {
      if (r.outcome.kind === 'left' && left.length < 10_000) left.push(r);
      if (r.outcome.kind === 'failed' && failures.length < 10_000) failures.push(r);
      if (human)
        process.stdout.write(
          `RESTORE: ${pathText(r.targetAbs)}\n  ${formatCount(r.action.size)} bytes\n  ${outcomeMark(r, st)}\n\n`,
        );
    },
  );
  if (opts.json) {
    printJson({
      plan_id: plan.id,
      dry_run: dryRun,
      restored: summary.restored,
      would_restore: summary.wouldRestore,
      left_alone: summary.left,
      failed: summary.failed,
      metadata_not_recorded: summary.legacy,
      bytes_restored: summary.bytesRestored,
      would_restore_bytes: summary.wouldRestoreBytes,
      status: dryRun ? plan.status : summary.status,
      interrupted: summary.interrupted,
      log: log?.path ?? null,
      space: space.map((s) => ({
        device: s.device,
        ...(s.mountPoint ? jsonPath('mount_point', s.mountPoint) : {}),
        paths: s.paths,
        needed: s.needed,
        available: s.available ?? null,
      })),
      recovery: run
        ? {
            rolled_forward: run.recovery.undo.rolledForward,
            rolled_back: run.recovery.undo.rolledBack,
            copies_removed: run.recovery.undo.copiesRemoved,
          }
        : null,
      left: left.map((r) => ({
        id: r.action.id,
        ...jsonPath('target', r.targetAbs ?? r.action.targetPath),
        reason: r.outcome.kind === 'left' ? r.outcome.why : '',
      })),
      failures: failures.map((r) => ({
        id: r.action.id,
        ...jsonPath('target', r.targetAbs ?? r.action.targetPath),
        error: r.outcome.kind === 'failed' ? r.outcome.error : '',
      })),
    });
  } else if (human) {
    const lines = [RULE];
    if (dryRun)
      lines.push(
        st.deco(
          '🔍',
          `Would restore: ${formatCount(summary.wouldRestore)} (${formatBytes(summary.wouldRestoreBytes)})`,
        ),
      );
    else
      lines.push(
        st.status(
          'ok',
          `Restored: ${formatCount(summary.restored)} (${formatBytes(summary.bytesRestored)} used again)`,
        ),
      );
    // A count of zero is no warning: off a terminal 'warning:'/'FAILED' would read as one.
    const left = `Left alone (changed since execute): ${formatCount(summary.left)}`;
    const failed = `Failed: ${formatCount(summary.failed)}`;
    lines.push(summary.left || st.emoji ? st.status('warning', left) : left);
    lines.push(summary.failed || st.emoji ? st.status('failed', failed) : failed);
    if (summary.legacy)
      lines.push(
        st.deco(
          'ℹ️ ',
          `${countOf(summary.legacy, 'path')} executed before hashall recorded their metadata: owner, group and mode (equal to the kept file's) and the plan's mtime restored; the atime is the kept file's`,
        ),
      );
    if (!dryRun) lines.push(`Status: ${summary.status}`);
    if (summary.interrupted)
      lines.push(
        st.status(
          'warning',
          `Interrupted: run 'hashall conductor undo ${plan.id}' again to resume`,
        ),
      );
    if (log) lines.push('', `See ${log.path} for details`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  process.exitCode = summary.interrupted
    ? EXIT.interrupted
    : summary.failed + summary.left > 0
      ? EXIT.partial
      : EXIT.ok;
}

export function registerUndo(conductor: Command): void {
  withGlobals(
    conductor
      .command('undo')
      .description('give the paths an executed hardlink plan replaced their own copies back')
      .argument('<plan_id>', 'plan id', parsePlanId)
      .option('--dry-run', 'check every path against the disk and report; change nothing')
      .option('--force', 'undo without asking (required when not on a terminal)'),
  ).action(runUndo);
}
