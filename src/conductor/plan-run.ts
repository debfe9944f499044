/**
 * Running one plan inside an executor run (or as a dry run): the `Executor` (or, for undo, the
 * `Undoer`) over the plan, each action's outcome and the totals written to the run's log, and
 * every action sent out for the CLI to render (the bar, the action lines). Nothing is printed.
 */
import type { PlanRow } from '../catalog/plans.js';
import type { ActionRow } from '../catalog/actions.js';
import { displayPath } from '../display-path.js';
import {
  Executor,
  type ActionReport,
  type ExecuteSummary,
  type ExecutorCatalog,
  type Verify,
} from './execute/index.js';
import { actionLabel, planMode } from './mode.js';
import type { RunLog } from './run-log.js';
import { Undoer, type UndoCatalog, type UndoSummary } from './undo.js';
import type { UndoReport } from './undo-types.js';

export type PlanRunEvent =
  /** An action's outcome, in the plan's order. */
  | { readonly kind: 'action'; readonly report: ActionReport }
  /** An action was checked against the disk (the progress bar counts these). */
  | { readonly kind: 'checked'; readonly action: ActionRow };

export interface PlanRunRequest {
  readonly catalog: ExecutorCatalog;
  readonly plan: PlanRow;
  /** A dry run changes nothing and has no log; a real run logs every outcome. */
  readonly run: { readonly kind: 'dry-run' } | { readonly kind: 'real'; readonly log: RunLog };
  readonly verify: Verify;
  readonly shouldStop: () => boolean;
}

/** A path as logs and messages show it; an unmounted filesystem has none. */
export function pathText(b: Buffer | undefined): string {
  return b ? displayPath(b) : '(not mounted)';
}

export async function runPlanActions(
  req: PlanRunRequest,
  onEvent: (e: PlanRunEvent) => void,
): Promise<ExecuteSummary> {
  const { plan } = req;
  const mode = planMode(plan);
  const log = req.run.kind === 'real' ? req.run.log : undefined;
  const summary = await new Executor(req.catalog, plan, {
    dryRun: req.run.kind === 'dry-run',
    verify: req.verify,
    shouldStop: req.shouldStop,
    onAction: (r) => {
      const o = r.outcome;
      log?.write(
        `${actionLabel(mode, r.action.type)} #${r.action.id} ${o.kind}${o.kind === 'failed' ? `: ${o.error}` : o.kind === 'noop' ? `: ${o.why}` : ''} target=${pathText(r.targetAbs)} source=${pathText(r.sourceAbs)}`,
      );
      onEvent({ kind: 'action', report: r });
    },
    onChecked: (action) => onEvent({ kind: 'checked', action }),
  }).run();
  log?.write(
    `done: status ${summary.status}, executed ${summary.executed}, noop ${summary.noop}, failed ${summary.failed}, skipped ${summary.skipped}, bytes ${mode === 'reflink' ? 'shared' : 'freed'} ${summary.bytesSaved} (plan in all: ${summary.planBytesSaved})`,
  );
  return summary;
}

export interface UndoRunRequest {
  readonly catalog: UndoCatalog;
  readonly plan: PlanRow;
  /** A dry run changes nothing and has no log; a real run logs every outcome. */
  readonly run: { readonly kind: 'dry-run' } | { readonly kind: 'real'; readonly log: RunLog };
  readonly shouldStop: () => boolean;
}

/** `conductor undo`'s run of a plan: the `Undoer`, its log lines, each path sent to `onAction`. */
export async function runUndoActions(
  req: UndoRunRequest,
  onAction: (r: UndoReport) => void,
): Promise<UndoSummary> {
  const log = req.run.kind === 'real' ? req.run.log : undefined;
  const summary = await new Undoer(req.catalog, req.plan, {
    dryRun: req.run.kind === 'dry-run',
    shouldStop: req.shouldStop,
    onAction: (r) => {
      const o = r.outcome;
      log?.write(
        `RESTORE #${r.action.id} ${o.kind}${o.kind === 'left' ? `: ${o.why}` : o.kind === 'failed' ? `: ${o.error}` : ''} target=${pathText(r.targetAbs)}`,
      );
      onAction(r);
    },
  }).run();
  log?.write(
    `done: status ${summary.status}, restored ${summary.restored}, left ${summary.left}, failed ${summary.failed}, bytes ${summary.bytesRestored}`,
  );
  return summary;
}
