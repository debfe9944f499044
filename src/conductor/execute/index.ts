/**
 * `conductor execute`: replace each planned duplicate with a hardlink (or a reflink clone),
 * proving at that moment that nothing moved and the bytes are identical (DESIGN §4).
 *
 * Actions run in batches (up to MAX_BATCH, fewer under a low open-files limit: fd-budget.ts).
 * Per action, steps 1-3 (verify.ts): open both parent directories and verify the kernel opened
 * the planned paths; lstat both (regular files, same filesystem, the identity the plan
 * recorded); compare the bytes (or re-hash both against the plan's SHA-256). Then, for the
 * verified actions of the batch:
 *   4. journal every intent in one transaction (committed before anything is touched);
 * and per action, steps 5-8 by the plan's replacer, chosen once per run: hardlink.ts (link to
 * a temp name, re-check, rename over the target, check) or reflink.ts (clone in a staging
 * directory, give it the target's metadata, re-check, rename, check);
 * and finally record the outcomes (and the catalog rows) of one or more batches (up to
 * OUTCOME_ACTIONS) in one transaction.
 * A crash at any point leaves every path with its content; the journal lets the next run roll
 * each journaled action forward or back, and remove any temp link (conductor/recovery.ts).
 * Batching the commits is what makes execute cost a few syscalls per action rather than two
 * SQLite commits; it widens no check window: steps 6-8 still run immediately around each rename.
 */
import { type ReplaceMode, replaceMode } from '../../catalog/action-decode.js';
import { closeSync } from 'node:fs';
import type { Catalog } from '../../catalog/port.js';
import { type PlanRow } from '../../catalog/plans.js';
import { EXIT, UserError } from '../../errors.js';
import { readMountinfo } from '../../fs/mountinfo.js';
import { CloseThrottle } from '../../fs/close-throttle.js';
import { currentMounts, type MountView } from '../../fs/reachability.js';
import { failpoint, failpointDelayMs, failpointPause } from '../../failpoint.js';
import { Pacer } from '../pace.js';
import { DirCache } from '../../fs/dir-cache.js';
import { fdBudget, openFdCount, openFilesLimit, type FdBudget } from '../fd-budget.js';
import { Expectations, OutOfFds } from './identity.js';
import { HardlinkReplacer } from './hardlink.js';
import { ReflinkReplacer } from './reflink.js';
import type { Replacer, ReplacerContext } from './replacer.js';
import { Verifier } from './verify.js';
import { Checker, type Prepared } from './check.js';
import { emptySummary, tally, toAppliedOutcome } from './summary.js';
import type {
  ActionReport,
  Applied,
  ExecuteOptions,
  ExecuteSummary,
  Outcome,
  Verified,
} from './types.js';

export type { ActionReport, ExecuteOptions, ExecuteSummary, Outcome, Verify } from './types.js';
export { hashFd } from './identity.js';
export { micros, utimeArg } from './reflink.js';

const BUF_BYTES = 1 << 20;
/**
 * Applied actions per outcome commit, spanning several batches (their journal rows stand
 * until then). Each outcome transaction rewrites every catalog page its rows fall on (the
 * replaced paths' rows and their three indexes, spread over the whole catalog): one
 * transaction per batch wrote ~250,000 pages for the reference tree's 27,000 actions.
 * Also recorded at least every OUTCOME_MS, so that progress is reported as it happens.
 */
const OUTCOME_ACTIONS = 2048;
const OUTCOME_MS = 2000;

/** The plan's replacer, chosen once per run. */
function replacerFor(mode: ReplaceMode, ctx: ReplacerContext): Replacer {
  switch (mode) {
    case 'reflink':
      return new ReflinkReplacer(ctx);
    case 'hardlink':
      return new HardlinkReplacer(ctx);
  }
}

/** What an executor run asks of the catalog. */
export type ExecutorCatalog = Pick<Catalog, 'journal' | 'execution' | 'replacement'>;

export class Executor {
  private readonly exp: Expectations;
  private readonly replacer: Replacer;
  /** The plan as the catalog decodes its actions. */
  private readonly planRef: { readonly id: number; readonly mode: ReplaceMode };
  private readonly verifier: Verifier;
  private readonly budget: FdBudget;
  private readonly dirs: DirCache;
  /** The replaced targets' fds are closed off the main thread (see CloseThrottle). */
  private readonly closes = new CloseThrottle();

  constructor(
    private readonly catalog: ExecutorCatalog,
    private readonly plan: PlanRow,
    private readonly opts: ExecuteOptions,
  ) {
    this.exp = new Expectations(catalog, plan.id);
    this.planRef = { id: plan.id, mode: replaceMode(plan) };
    const limit = openFilesLimit();
    const budget = fdBudget(limit, openFdCount());
    if (!budget) {
      throw new UserError(
        `the open-files limit (${limit}) leaves too few descriptors to ${opts.dryRun ? 'check' : 'execute'} plan ${plan.id}; raise it ('ulimit -n 1024') and run again`,
      );
    }
    this.budget = budget;
    this.dirs = new DirCache(budget.dirCache);
    const bufs = { a: Buffer.allocUnsafeSlow(BUF_BYTES), b: Buffer.allocUnsafeSlow(BUF_BYTES) };
    this.replacer = replacerFor(this.planRef.mode, {
      catalog,
      planId: plan.id,
      exp: this.exp,
      verify: opts.verify,
      buf: bufs.a,
    });
    this.verifier = new Verifier({
      planId: plan.id,
      dryRun: opts.dryRun,
      verify: opts.verify,
      dirs: this.dirs,
      exp: this.exp,
      replacer: this.replacer,
      bufs,
    });
  }

  /** Where each catalogued filesystem is mounted now. */
  private async mountViews(): Promise<Map<number, MountView[]>> {
    const mounts = readMountinfo();
    const views = new Map<number, MountView[]>();
    for (const d of await this.catalog.execution.devices())
      views.set(d.id, currentMounts(d, mounts));
    return views;
  }

  async run(): Promise<ExecuteSummary> {
    const s = emptySummary(this.plan, this.opts.dryRun);
    const checker = new Checker({
      dryRun: this.opts.dryRun,
      views: await this.mountViews(),
      verifier: this.verifier,
      replacer: this.replacer,
    });
    const { execution } = this.catalog;
    const savedBefore = await execution.bytesSaved(this.planRef);
    if (!this.opts.dryRun) await execution.setStatus({ planId: this.plan.id, status: 'executing' });
    let after = 0;
    // Test-only: slow each action down (and apply and record each at once) so that a test can
    // interrupt a run in the middle.
    const testDelayMs = failpointDelayMs('execute-action');
    const pacer = new Pacer(testDelayMs, failpointDelayMs('execute-check'));
    // Reports are emitted in plan order, those of verified actions once their outcome is
    // recorded: `pending` holds every action since the last outcome transaction.
    const pending: ({ kind: 'done'; report: ActionReport } | { kind: 'verified'; id: number })[] =
      [];
    // Verified, not yet journaled (holding their fds); done on disk, outcome not yet recorded.
    const batch: Verified[] = [];
    const applied: Applied[] = [];
    let lastRecord = Date.now();
    let outOfFds: { error: OutOfFds; actionId: number } | undefined;
    const emit = (r: ActionReport) => {
      tally(s, r);
      this.opts.onAction?.(r);
    };
    const link = async () => {
      // applyBatch owns (and closes) the fds of the verified actions from here on.
      if (batch.length > 0) applied.push(...(await this.applyBatch(batch.splice(0))));
      this.dirs.trim();
    };
    const record = async () => {
      await this.recordVerdicts(checker);
      const reports = await this.recordOutcomes(applied.splice(0));
      lastRecord = Date.now();
      for (const p of pending.splice(0)) {
        if (p.kind === 'done') emit(p.report);
        else {
          // Absent: verified but never journaled (the run was stopped first), left pending.
          const r = reports.get(p.id);
          if (r) emit(r);
        }
      }
    };
    try {
      outer: for (;;) {
        const page = await execution.actionPage({ plan: this.planRef, after, limit: 500 });
        if (page.length === 0) break;
        const rows = page.map((a) => a.row);
        await this.exp.prefetch(rows);
        await this.replacer.prefetch(rows);
        for (const decoded of page) {
          const action = decoded.row;
          after = action.id;
          await pacer.step();
          if (this.opts.shouldStop()) {
            s.interrupted = true;
            break outer;
          }
          let p: Prepared;
          try {
            p = checker.prepare(decoded);
          } catch (err) {
            if (!(err instanceof OutOfFds)) throw err;
            // Give back every descriptor we hold (apply the batch, let the closes finish, close
            // the directories) and try once more: only then is the limit to blame.
            await link();
            await this.closes.settle(0);
            this.dirs.closeAll();
            try {
              p = checker.prepare(decoded);
            } catch (again) {
              if (!(again instanceof OutOfFds)) throw again;
              outOfFds = { error: again, actionId: action.id };
              s.interrupted = true;
              break outer;
            }
          }
          this.opts.onChecked?.(action);
          if (p.kind === 'done') pending.push(p);
          else {
            pending.push({ kind: 'verified', id: p.v.action.id });
            batch.push(p.v);
          }
          if (batch.length >= this.budget.batch || testDelayMs > 0) {
            await link();
            await this.closes.settle(this.budget.batch);
          }
          if (
            applied.length >= OUTCOME_ACTIONS ||
            checker.verdicts.length >= OUTCOME_ACTIONS ||
            (applied.length > 0 && Date.now() - lastRecord > OUTCOME_MS) ||
            testDelayMs > 0
          ) {
            // Verified actions still in the batch are linked first: record() reports every
            // action checked so far, in plan order, and one left unjournaled would be dropped
            // from this run's counts (though linked later).
            await link();
            await this.closes.settle(this.budget.batch);
            await record();
          }
        }
      }
      // Stop means stop: verified actions not yet journaled are left pending, untouched.
      if (s.interrupted) for (const v of batch.splice(0)) this.closeFds(v);
      await link();
      await record();
    } finally {
      for (const v of batch) this.closeFds(v);
      // Verdicts reached before an unexpected error are still true: keep them.
      if (checker.verdicts.length > 0) await this.recordVerdicts(checker);
      this.dirs.closeAll();
      await this.closes.settle(0);
    }
    s.planBytesSaved = await execution.bytesSaved(this.planRef);
    if (!this.opts.dryRun) {
      // An inode counts for the run that replaced its last planned link.
      s.bytesSaved = s.planBytesSaved - savedBefore;
      const failedAny = await execution.failedCount(this.plan.id);
      s.status = s.interrupted ? 'interrupted' : failedAny > 0 ? 'partial' : 'executed';
      await execution.setStatus({ planId: this.plan.id, status: s.status, endedAt: Date.now() });
    }
    if (outOfFds) {
      const limit = this.budget.limit === undefined ? '' : ` (limit ${this.budget.limit})`;
      throw new UserError(
        `${outOfFds.error.message} at action #${outOfFds.actionId} of plan ${this.plan.id}${limit}, even after closing every descriptor hashall held: ${
          this.opts.dryRun
            ? 'the check stopped there and changed nothing'
            : `stopped there; what was done is recorded and the plan is '${s.status}'`
        }. Raise the limit ('ulimit -n') or close other programs' files, and run it again`,
        EXIT.partial,
      );
    }
    return s;
  }

  private async recordVerdicts(checker: Checker): Promise<void> {
    await this.catalog.journal.verdicts(checker.verdicts.splice(0));
  }

  /** Close a verified action's files and unpin its directories. */
  private closeFds(v: Verified): void {
    this.dirs.unpin(v.tdir);
    this.dirs.unpin(v.sdir);
    closeSync(v.srcFd);
    this.closes.close(v.tgtFd);
  }

  /**
   * Steps 4-8 for a batch of verified actions: every intent in one transaction, committed
   * before anything is touched (awaited: the catalog has it durable), then each action on disk,
   * one after the other. Their outcomes are recorded later, by recordOutcomes.
   */
  private async applyBatch(batch: Verified[]): Promise<Applied[]> {
    const applied: Applied[] = [];
    try {
      await this.catalog.journal.intents(
        batch.map((v) => {
          const originalTarget = this.replacer.originalTarget(v);
          return {
            journal: {
              actionId: v.action.id,
              planId: this.plan.id,
              sourceAbs: v.sourceAbs,
              targetAbs: v.targetAbs,
              tempAbs: v.tempAbs,
            },
            // What the target was, for `conductor undo`.
            ...(originalTarget ? { originalTarget } : {}),
          };
        }),
      );
      const applyDelayMs = failpointDelayMs('execute-apply');
      for (const v of batch) {
        // Test-only: a pause between this action's checks and its replacement.
        if (applyDelayMs > 0) await failpointPause('execute-apply');
        const a = await this.replacer.apply(v);
        applied.push({
          ...a,
          v: { action: v.action, sourceAbs: v.sourceAbs, targetAbs: v.targetAbs },
        });
      }
    } finally {
      for (const v of batch) this.closeFds(v);
    }
    return applied;
  }

  /**
   * The outcomes of applied actions (of one or more batches), with the catalog rows of the
   * paths they replaced and the inodes they touched, in one catalog transaction; until it
   * commits, their journal rows let recovery roll each forward or back.
   */
  private async recordOutcomes(applied: Applied[]): Promise<Map<number, ActionReport>> {
    const reports = new Map<number, ActionReport>();
    if (applied.length === 0) return reports;
    await this.catalog.journal.outcomes({
      planId: this.plan.id,
      outcomes: applied.map(toAppliedOutcome),
      inodes: this.exp.drain(),
    });
    for (const a of applied) {
      failpoint('after-commit', a.v.action.id);
      const outcome: Outcome =
        a.kind === 'failed' ? { kind: 'failed', error: a.error } : { kind: 'executed' };
      reports.set(a.v.action.id, {
        action: a.v.action,
        sourceAbs: a.v.sourceAbs,
        targetAbs: a.v.targetAbs,
        outcome,
      });
    }
    return reports;
  }
}
