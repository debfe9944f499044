/**
 * Recovering an execute that was killed mid-action. Every journaled path is looked at and
 * acted on relative to its directory opened without following a symlink (safe-ops.ts): a
 * directory on the way swapped for a symlink since the crash is reported, never followed. For every journal row: remove our temp
 * link if it is still there, then look at the target: if it is now the source inode the
 * action completed (roll forward, record it), otherwise it never happened (roll back: the
 * action is pending again). Either way every path still has its content.
 *
 * Reflink plans: the journal names a staging directory; our clone inside it (if it was never
 * renamed) and the directory are removed. The action completed when the target is the clone
 * inode journaled before the rename; anything else (the old target, or a file someone else put
 * there) rolls back.
 */
import type { ReplaceMode } from '../catalog/action-decode.js';
import type { BigIntStats } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import type { ActionRow } from '../catalog/actions.js';
import type { InodeChange, OpenJournalEntry } from '../catalog/execute-port.js';
import { describeErrno, errnoCode } from '../errors.js';
import { removeStage } from '../fs/reflink.js';
import { TEMP_PREFIX_BYTES } from '../fs/temp-name.js';
import { displayPath } from '../display-path.js';
import { baseName, parentOf } from '../paths.js';
import { inDir, lstatNoFollow } from '../fs/safe-ops.js';

export interface RecoveryReport {
  rolledForward: number;
  rolledBack: number;
  tempLinksRemoved: number;
  problems: string[];
}

/**
 * The interrupted action changed ctimes and link counts (the temp link, the rename): let the
 * plan's remaining actions expect the values on disk now, when the file is otherwise the same.
 */
function ownChanges(
  action: ActionRow,
  sourceAbs: Buffer,
  targetAbs: Buffer,
  forward: boolean,
): InodeChange[] {
  const changes: InodeChange[] = [];
  const adopt = (abs: Buffer, inode: bigint, mtimeNs: bigint) => {
    try {
      const st = lstatNoFollow(abs);
      if (st.isFile() && BigInt.asIntN(64, st.ino) === inode && st.mtimeNs === mtimeNs) {
        changes.push({
          deviceId: action.deviceId,
          inode,
          nlink: Number(st.nlink),
          ctimeNs: st.ctimeNs,
        });
      }
    } catch {
      // gone or unreadable: the next attempt reports it as stale
    }
  };
  adopt(sourceAbs, action.sourceInode, action.sourceMtimeNs);
  if (!forward) adopt(targetAbs, action.targetInode, action.targetMtimeNs);
  return changes;
}

/** What recovery does differently per mode: chosen once per journal row from the plan. */
interface ModeRecovery {
  /** How the action replaced its target (the catalog records a link and a clone differently). */
  readonly replaced: 'link' | 'clone';
  /** Remove our temp name (a temp link, or a staging directory with the clone in it). */
  removeTemp(tempAbs: Buffer, rep: RecoveryReport): void;
  /** The inode the target is when the action completed (undefined: it cannot have). */
  completedInode(entry: OpenJournalEntry & { readonly action: ActionRow }): bigint | undefined;
}

const RECOVER: Record<ReplaceMode, ModeRecovery> = {
  hardlink: {
    replaced: 'link',
    removeTemp(tempAbs, rep) {
      try {
        // Checked and removed in the one directory opened without following a symlink.
        const name = baseName(tempAbs);
        const removed = inDir(parentOf(tempAbs), (dir) => {
          if (!dir.lstat(name).isFile()) return false;
          dir.unlink(name);
          return true;
        });
        if (removed) rep.tempLinksRemoved++;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT')
          rep.problems.push(`cannot remove ${displayPath(tempAbs)}: ${describeErrno(err)}`);
      }
    },
    completedInode: (e) => e.action.sourceInode,
  },
  reflink: {
    replaced: 'clone',
    removeTemp(tempAbs, rep) {
      const r = removeStage(tempAbs);
      if (r.removed) rep.tempLinksRemoved++;
      if (r.error) rep.problems.push(`cannot remove ${displayPath(tempAbs)}: ${r.error}`);
    },
    // The clone inode journaled before the rename (none: it never got that far).
    completedInode: (e) => e.cloneInode,
  },
};

/**
 * Settle every journal row, one transaction each (the catalog's `journal.settle`): the files are
 * looked at between two settlements, never while a transaction is open. Run under the executor
 * lock, so nothing else changes the journal meanwhile.
 */
export async function recoverInterrupted(
  catalog: Pick<Catalog, 'journal'>,
  /** The devices the caller has locked: only their rows are recovered. */
  scope: { readonly devices: ReadonlySet<number> },
): Promise<RecoveryReport> {
  const rep: RecoveryReport = {
    rolledForward: 0,
    rolledBack: 0,
    tempLinksRemoved: 0,
    problems: [],
  };
  for (const entry of await catalog.journal.open()) {
    const { journal: j, action } = entry;
    if (action && !scope.devices.has(action.deviceId)) continue; // another run's device
    const how = RECOVER[entry.mode];
    const ours = baseName(j.tempAbs)
      .subarray(0, TEMP_PREFIX_BYTES.length)
      .equals(TEMP_PREFIX_BYTES);
    // Only ever remove a name we made: our prefix, in the journal.
    if (ours) how.removeTemp(j.tempAbs, rep);
    let done = false;
    let st: BigIntStats | undefined;
    try {
      st = lstatNoFollow(j.targetAbs);
      const want = action && how.completedInode({ ...entry, action });
      done =
        action !== undefined &&
        want !== undefined &&
        st.isFile() &&
        BigInt.asIntN(64, st.ino) === want;
    } catch (err) {
      rep.problems.push(`cannot check ${displayPath(j.targetAbs)}: ${describeErrno(err)}`);
    }
    const forward = action !== undefined && done && st !== undefined;
    await catalog.journal.settle({
      actionId: j.actionId,
      planId: action?.planId ?? j.planId,
      inodes: action ? ownChanges(action, j.sourceAbs, j.targetAbs, done) : [],
      decision:
        forward && action && st
          ? { kind: 'forward', action, target: st, replaced: how.replaced }
          : { kind: 'back', action },
    });
    if (forward) rep.rolledForward++;
    else rep.rolledBack++;
  }
  // The plans of the rows settled, and any a killed run left 'executing' with nothing in
  // flight, are interrupted.
  await catalog.journal.closeInterrupted({ pid: process.pid });
  return rep;
}
