/**
 * Recovering an undo that was killed mid-action (issue 12 §5). For every undo journal row: if
 * the target is now the copy whose inode was journaled before the rename, the action completed
 * (roll forward: record it, and let the plan expect the kept inode's new ctime); otherwise the
 * target is still a link of the kept file (roll back: the action is to do again) and our copy,
 * if it is still there, is removed. Only a name with our prefix that the journal holds is ever
 * unlinked, and only when it is the journaled copy (or, when the crash came before its inode
 * was journaled, a regular file: the name is random and was created with O_EXCL).
 * Plans a killed undo left 'undoing' become 'partially-undone': `conductor undo` resumes them.
 */
import type { BigIntStats } from 'node:fs';
import type { Catalog } from '../catalog/port.js';
import type { KeptInode, UndoSettlement } from '../catalog/plan-port.js';
import { describeErrno, errnoCode } from '../errors.js';
import { baseName, parentOf } from '../paths.js';
import { inDir, lstatNoFollow } from '../fs/safe-ops.js';
import { displayPath } from '../display-path.js';
import { UNDO_TEMP_PREFIX } from './undo-types.js';

export interface UndoRecoveryReport {
  rolledForward: number;
  rolledBack: number;
  copiesRemoved: number;
  problems: string[];
}

const PREFIX = Buffer.from(UNDO_TEMP_PREFIX);

function lstatOrUndefined(stat: () => BigIntStats): BigIntStats | undefined {
  try {
    return stat();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The kept inode as our rename left it, when its path still names it unchanged. */
function keptInode(
  sourceAbs: Buffer,
  a: { sourceInode: bigint; sourceMtimeNs: bigint },
): KeptInode | undefined {
  try {
    const kept = lstatNoFollow(sourceAbs);
    if (
      kept.isFile() &&
      BigInt.asIntN(64, kept.ino) === a.sourceInode &&
      kept.mtimeNs === a.sourceMtimeNs
    )
      return { ctimeNs: kept.ctimeNs, nlink: Number(kept.nlink) };
  } catch {
    // the kept path is gone or unreadable: the next undo reports its paths as changed
  }
  return undefined;
}

export type UndoRecoveryScope =
  | { readonly kind: 'all' }
  | {
      readonly kind: 'devices';
      readonly devices: ReadonlySet<number>;
      readonly plans: 'settle' | 'leave';
    };

/** Run under the executor lock, after execute's recovery (conductor/run.ts). */
export async function recoverInterruptedUndo(
  catalog: Pick<Catalog, 'undo'>,
  /**
   * What the caller has locked: only those devices' rows are recovered, and plans left
   * 'undoing' are settled only when no other run is live ('all': every device, no other run).
   */
  scope: UndoRecoveryScope = { kind: 'all' },
): Promise<UndoRecoveryReport> {
  const rep: UndoRecoveryReport = {
    rolledForward: 0,
    rolledBack: 0,
    copiesRemoved: 0,
    problems: [],
  };
  for (const { row: j, action } of await catalog.undo.journal.open()) {
    if (scope.kind === 'devices' && action && !scope.devices.has(action.deviceId)) continue;
    let target: BigIntStats | undefined;
    try {
      target = lstatOrUndefined(() => lstatNoFollow(j.targetAbs));
    } catch (err) {
      rep.problems.push(`cannot check ${displayPath(j.targetAbs)}: ${describeErrno(err)}`);
    }
    const forward =
      action !== undefined &&
      j.tempInode !== undefined &&
      target !== undefined &&
      target.isFile() &&
      BigInt.asIntN(64, target.ino) === j.tempInode;
    if (!forward && baseName(j.tempAbs).subarray(0, PREFIX.length).equals(PREFIX)) {
      try {
        // Checked and removed in the one directory opened without following a symlink.
        const name = baseName(j.tempAbs);
        const removed = inDir(parentOf(j.tempAbs), (dir) => {
          const t = lstatOrUndefined(() => dir.lstat(name));
          if (!t?.isFile()) return false;
          if (j.tempInode !== undefined && BigInt.asIntN(64, t.ino) !== j.tempInode) return false;
          dir.unlink(name);
          return true;
        });
        if (removed) rep.copiesRemoved++;
      } catch (err) {
        // Its directory gone: so is the copy.
        if (errnoCode(err) !== 'ENOENT')
          rep.problems.push(`cannot remove ${displayPath(j.tempAbs)}: ${describeErrno(err)}`);
      }
    }
    let settlement: UndoSettlement;
    if (forward && action && target) {
      // Our rename took a link from the kept inode: the plan's other paths expect that.
      settlement = { kind: 'restored', action, target, kept: keptInode(j.sourceAbs, action) };
      rep.rolledForward++;
    } else {
      settlement = { kind: 'rolled-back', actionId: j.actionId };
      rep.rolledBack++;
    }
    await catalog.undo.settle(settlement);
  }
  if (scope.kind === 'all' || scope.plans === 'settle') await catalog.undo.settleInterruptedPlans();
  return rep;
}
