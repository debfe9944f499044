/**
 * Steps 1-3 for one decoded action: SKIP and NOOP settle here (NOOP: does the link still
 * stand?), a replacement is verified (verify.ts) or fails with the reason. Verdicts of real runs
 * are collected for the run's next outcome transaction.
 */
import type { PlanAction } from '../../catalog/action-decode.js';
import type { ActionRow } from '../../catalog/actions.js';
import type { Verdict } from '../../catalog/execution.js';
import { describeErrno } from '../../errors.js';
import { absolutePath, type MountView } from '../../fs/reachability.js';
import { isFdExhaustion } from '../fd-budget.js';
import { ALREADY_SHARED } from '../reflink-plan.js';
import { OutOfFds, Stale } from './identity.js';
import type { Replacer } from './replacer.js';
import type { Verifier } from './verify.js';
import type { ActionReport, Outcome, Verified } from './types.js';

export type Prepared = { kind: 'verified'; v: Verified } | { kind: 'done'; report: ActionReport };

export class Checker {
  constructor(
    private readonly c: {
      readonly dryRun: boolean;
      /** Where each catalogued filesystem is mounted now. */
      readonly views: ReadonlyMap<number, MountView[]>;
      readonly verifier: Verifier;
      readonly replacer: Replacer;
    },
  ) {}

  private abs(deviceId: number, fsPath: Buffer): Buffer | undefined {
    return absolutePath(fsPath, this.c.views.get(deviceId) ?? []);
  }

  /**
   * NOOP and failed outcomes of checked actions (real runs only), written in one transaction
   * with the next outcomes rather than one commit each: a plan may hold many thousands.
   */
  readonly verdicts: Verdict[] = [];

  private noteNoop(action: ActionRow, note: string | null): void {
    if (!this.c.dryRun) this.verdicts.push({ actionId: action.id, status: 'noop', note });
  }

  /** Steps 1-3 for one action: a final report, or a verified action holding its open fds. */
  prepare(decoded: PlanAction): Prepared {
    const action = decoded.row;
    const sourceAbs = this.abs(action.sourceDeviceId, action.sourcePath);
    const targetAbs = this.abs(action.deviceId, action.targetPath);
    const done = (outcome: Outcome): Prepared => ({
      kind: 'done',
      report: { action, sourceAbs, targetAbs, outcome },
    });
    switch (decoded.type) {
      case 'SKIP':
        return done({ kind: 'noop', why: decoded.reason });
      case 'NOOP':
        return done(this.checkNoop(action, sourceAbs, targetAbs));
      case 'HARDLINK':
      case 'REFLINK':
        // The plan's replacer, chosen once per run, applies both (a plan has one mode).
        return this.prepareReplacement(action, sourceAbs, targetAbs);
    }
  }

  /**
   * A target found sharing every block with the kept file when the plan was made; else verify
   * the hardlink still stands. A real run records the outcome (the note says why when the link
   * no longer stands); a dry run records nothing.
   */
  private checkNoop(
    action: ActionRow,
    sourceAbs: Buffer | undefined,
    targetAbs: Buffer | undefined,
  ): Outcome {
    const outcome: Outcome =
      action.reason === ALREADY_SHARED
        ? { kind: 'noop', why: ALREADY_SHARED }
        : this.c.verifier.checkNoop(sourceAbs, targetAbs);
    if (action.status === 'pending' && outcome.kind === 'noop') {
      this.noteNoop(
        action,
        outcome.why === 'already linked' || outcome.why === ALREADY_SHARED ? null : outcome.why,
      );
    }
    return outcome;
  }

  private prepareReplacement(
    action: ActionRow,
    sourceAbs: Buffer | undefined,
    targetAbs: Buffer | undefined,
  ): Prepared {
    const done = (outcome: Outcome): Prepared => ({
      kind: 'done',
      report: { action, sourceAbs, targetAbs, outcome },
    });
    const resumed = this.c.replacer.resumed(action, targetAbs);
    if (resumed) return done(resumed);
    if (!sourceAbs || !targetAbs) {
      return done(
        this.fail(
          action,
          'device not mounted: its filesystem is not reachable at any mount point now',
        ),
      );
    }
    try {
      const r = this.c.verifier.verify(action, sourceAbs, targetAbs);
      if (r.kind === 'verified') return r;
      if (r.outcome.kind === 'noop' && action.status !== 'executed') this.noteNoop(action, null);
      return done(r.outcome);
    } catch (err) {
      // Our own shortage, not the file's: the action is tried again, never failed for it.
      if (isFdExhaustion(err)) throw new OutOfFds(err);
      return done(this.fail(action, err instanceof Stale ? err.message : describeErrno(err)));
    }
  }

  private fail(action: ActionRow, error: string): Outcome {
    if (!this.c.dryRun) this.verdicts.push({ actionId: action.id, status: 'failed', note: error });
    return { kind: 'failed', error };
  }
}
