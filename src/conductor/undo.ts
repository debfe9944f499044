/**
 * `conductor undo ID` (issue 12 §5): give every path an executed hardlink plan replaced an
 * independent copy of its content again, with the owner, group, mode and times it had before
 * execute. Same safety protocol as execute (the caller holds the executor lock and has run both
 * recoveries). Per executed HARDLINK action:
 *   1. open the target's directory without following symlinks (VerifiedDir) and open the target;
 *   2. it must still be a link of the kept inode: same inode, size and mtime as planned, and
 *      the ctime execute (or this undo) last left on that inode — anything else means someone
 *      changed it since execute: it is left alone and reported;
 *   3. journal the intent (committed before anything is made);
 *   4. copy the content into DIR/.hashall-undo-… (O_EXCL, 0600), hashing what is read; the
 *      hash must be the plan's SHA-256; read the copy back: same hash;
 *   5. owner and group, then mode (chown clears setuid), then atime and mtime; check them;
 *      fsync the copy;
 *   6. journal the copy's inode (committed), re-check the target and the kept inode;
 *   7. rename(copy, target) — atomic: the path names the kept file or its own copy, never
 *      nothing — and check the target is the copy;
 *   8. record the outcome, the target's catalog row (its new inode) and the kept inode's new
 *      ctime and link count in one transaction.
 * A crash anywhere leaves each path with its content; undo-recovery.ts finishes or rolls back.
 * This file is the run loop; undo-action.ts undoes one path, undo-space.ts checks the room.
 *
 * Plans executed before the metadata was recorded: owner, group and mode were equal to the kept
 * file's (execute links nothing else) and the plan holds the target's mtime; only the atime is
 * lost (the kept file's is used). The outcome says so.
 */
import type { Catalog } from '../catalog/port.js';
import type { PlanRow, PlanStatus } from '../catalog/plans.js';
import { UserError } from '../errors.js';
import { readMountinfo } from '../fs/mountinfo.js';
import { absolutePath, type MountView } from '../fs/reachability.js';
import { localMountViews } from '../fs/host-reach.js';
import { failpointDelayMs } from '../failpoint.js';
import { planMode } from './mode.js';
import { Pacer } from './pace.js';
import { ActionUndoer } from './undo-action.js';
import type { UndoReport } from './undo-types.js';

export interface UndoOptions {
  readonly dryRun: boolean;
  readonly shouldStop: () => boolean;
  readonly onAction?: (r: UndoReport) => void;
}

export interface UndoSummary {
  planId: number;
  dryRun: boolean;
  restored: number;
  wouldRestore: number;
  left: number;
  failed: number;
  /** Restored (or would be) without recorded metadata: the atime is the kept file's. */
  legacy: number;
  bytesRestored: number;
  wouldRestoreBytes: number;
  status: PlanStatus;
  interrupted: boolean;
}

/** What an undo asks of the catalog. */
export type UndoCatalog = Pick<Catalog, 'undo' | 'planDevices'>;

const PAGE = 200;

/** Refuse, with the reason, a plan undo cannot apply to. */
export function checkUndoable(plan: PlanRow): void {
  const id = plan.id;
  if (planMode(plan) === 'reflink') {
    throw new UserError(
      `plan ${id} is a reflink plan: its targets are already independent files with their own owner, mode and times (clones share blocks copy-on-write, and writing one never changes another); there is nothing to undo`,
    );
  }
  switch (plan.status) {
    case 'pending':
      throw new UserError(
        `plan ${id} was never executed: nothing to undo; 'hashall conductor discard ${id}' removes it`,
      );
    case 'executing':
      throw new UserError(
        `plan ${id} is executing now; wait for it to finish (or run 'hashall conductor execute ${id}' to recover a killed run) before undoing it`,
      );
    case 'undone':
      throw new UserError(`plan ${id} is already undone: every replaced path has its own copy`);
    default:
  }
}

export class Undoer {
  constructor(
    private readonly catalog: UndoCatalog,
    private readonly plan: PlanRow,
    private readonly opts: UndoOptions,
  ) {}

  /** Where each device's filesystem paths are on this host now (its own recorded mount). */
  private async mountViews(): Promise<Map<number, MountView[]>> {
    const mounts = readMountinfo();
    const views = new Map<number, MountView[]>();
    for (const d of await this.catalog.planDevices.list())
      views.set(d.id, localMountViews(d, mounts));
    return views;
  }

  async run(): Promise<UndoSummary> {
    const { undo } = this.catalog;
    const planId = this.plan.id;
    const s: UndoSummary = {
      planId,
      dryRun: this.opts.dryRun,
      restored: 0,
      wouldRestore: 0,
      left: 0,
      failed: 0,
      legacy: 0,
      bytesRestored: 0,
      wouldRestoreBytes: 0,
      status: this.plan.status,
      interrupted: false,
    };
    const views = await this.mountViews();
    const undoer = new ActionUndoer({
      catalog: this.catalog,
      plan: this.plan,
      dryRun: this.opts.dryRun,
      abs: (deviceId, fsPath) => absolutePath(fsPath, views.get(deviceId) ?? []),
    });
    if (!this.opts.dryRun) await undo.setPlanStatus(planId, 'undoing');
    let after = 0;
    // Ctrl-C is heard between paths; a test's action delay slows each path down.
    const pacer = new Pacer(failpointDelayMs('undo-action'));
    outer: for (;;) {
      const page = await undo.page({ planId, afterId: after, limit: PAGE });
      if (page.actions.length === 0) break;
      undoer.setRecordedCtimes(page.ownCtimes);
      for (const u of page.actions) {
        after = u.action.id;
        await pacer.step();
        if (this.opts.shouldStop()) {
          s.interrupted = true;
          break outer;
        }
        const r = await undoer.undo(u);
        tally(s, r);
        this.opts.onAction?.(r);
      }
    }
    if (!this.opts.dryRun) {
      const c = await undo.counts(planId);
      s.status = c.remaining === 0 && !s.interrupted ? 'undone' : 'partially-undone';
      await undo.setPlanStatus(planId, s.status);
    }
    return s;
  }
}

function tally(s: UndoSummary, r: UndoReport): void {
  const o = r.outcome;
  switch (o.kind) {
    case 'restored':
      s.restored++;
      s.bytesRestored += r.action.size;
      if (o.legacy) s.legacy++;
      break;
    case 'would-restore':
      s.wouldRestore++;
      s.wouldRestoreBytes += r.action.size;
      if (o.legacy) s.legacy++;
      break;
    case 'left':
      s.left++;
      break;
    case 'failed':
      s.failed++;
      break;
  }
}
