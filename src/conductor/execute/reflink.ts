/**
 * Reflink replacement (steps 5-8 of a reflink plan): in a private staging directory
 * (DIR/.hashall-tmp-…/, 0700) FICLONE the verified source fd into a new file, check its size,
 * give it the target's owner, group, mode, atime and mtime and check them, journal the clone's
 * inode (one small commit), re-check target and source, rename the clone over the target,
 * check the target is the clone, remove the staging directory. Owner and mode may differ
 * between source and target: the clone is a new inode with the target's metadata. Recovery
 * rolls forward when the target is the journaled clone inode, back otherwise.
 */
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lstatSync,
  type BigIntStats,
} from 'node:fs';
import type { ActionRow } from '../../catalog/actions.js';
import { failpoint, failpointPauseSync } from '../../failpoint.js';
import { describeErrno } from '../../errors.js';
import { CLONE_NAME, CloneStage, cloneErrorText } from '../../fs/reflink.js';
import { openRegularAt } from '../../fs/safe-ops.js';
import {
  Stale,
  checkDirs,
  checkIdentity,
  hashFd,
  plannedSource,
  plannedTarget,
} from './identity.js';
import type { Replacer, ReplacerContext } from './replacer.js';
import type { Applied, Outcome, Verified } from './types.js';

/**
 * A time for futimes(): Node passes seconds as a double and libuv keeps whole microseconds, so
 * the sub-microsecond digits cannot be set; aim at the middle of the microsecond so that the
 * double's rounding cannot move it into the next or previous one.
 */
export function utimeArg(ns: bigint): number {
  let sec = ns / 1_000_000_000n;
  let rem = ns % 1_000_000_000n;
  if (rem < 0n) {
    sec -= 1n;
    rem += 1_000_000_000n;
  }
  return Number(sec) + (Number(rem / 1000n) * 1000 + 500) / 1e9;
}

/** Whole microseconds (floor), the precision a clone's times are set to. */
export function micros(ns: bigint): bigint {
  return ns >= 0n ? ns / 1000n : -((-ns + 999n) / 1000n);
}

export class ReflinkReplacer implements Replacer {
  readonly verb = 'clone';
  /** The inode the catalog records at the targets of the current page's executed actions. */
  private catalogInodes = new Map<number, bigint | undefined>();
  constructor(private readonly ctx: ReplacerContext) {}

  async prefetch(page: readonly ActionRow[]): Promise<void> {
    const executed = page.filter((a) => a.status === 'executed');
    const inodes = await this.ctx.catalog.replacement.catalogInodes(
      executed.map((a) => ({ deviceId: a.deviceId, path: a.targetPath })),
    );
    this.catalogInodes = new Map(executed.map((a, i) => [a.id, inodes[i]]));
  }

  /** Done before (this run was resumed): the target is a new inode now, never the planned one. */
  resumed(action: ActionRow, targetAbs: Buffer | undefined): Outcome | undefined {
    if (action.status !== 'executed') return undefined;
    if (!targetAbs) return { kind: 'noop', why: 'device not mounted' };
    try {
      const st = lstatSync(targetAbs, { bigint: true });
      const inode = this.catalogInodes.get(action.id);
      return {
        kind: 'noop',
        why:
          st.isFile() && inode !== undefined && BigInt.asIntN(64, st.ino) === inode
            ? 'already cloned'
            : 'no longer the clone made (rescan and re-plan)',
      };
    } catch (err) {
      return { kind: 'noop', why: `cannot check: ${describeErrno(err)}` };
    }
  }

  /** A clone is a new inode that takes the target's own owner, group and mode. */
  checkMetadata(_ss: BigIntStats, _ts: BigIntStats): void {}

  /** The clone keeps the target's own metadata: nothing for undo to restore. */
  originalTarget(_v: Verified): undefined {
    return undefined;
  }

  async apply(v: Verified): Promise<Applied> {
    const { action } = v;
    const { exp } = this.ctx;
    const dev = action.deviceId;
    const t = v.targetSt;
    failpoint('after-journal', action.id);
    let stage: CloneStage;
    try {
      stage = CloneStage.create(v.tdir, v.tmpName);
    } catch (err) {
      // EEXIST cannot be ours (a fresh random name): leave it, and the journal row with it.
      return { kind: 'failed', v, error: describeErrno(err), journalClear: true };
    }
    let cloneFd: number | undefined;
    let cloneIno: bigint;
    try {
      try {
        stage.clone(v.srcFd);
      } catch (err) {
        throw new Stale(cloneErrorText(err));
      }
      failpoint('after-clone', action.id);
      const c = openRegularAt(stage.dir, CLONE_NAME);
      cloneFd = c.fd;
      if (c.st.size !== BigInt(action.size) || c.st.nlink !== 1n)
        throw new Stale(
          `the clone is not a whole copy (${c.st.size} bytes, planned ${action.size})`,
        );
      if (this.ctx.verify === 'hash') {
        const h = hashFd(cloneFd, this.ctx.buf);
        if (!action.groupHash || !h.equals(action.groupHash))
          throw new Stale("content mismatch: the clone does not hash to the plan's SHA-256");
      }
      // The target's metadata: owner first (chown clears setuid/setgid), then mode, then times.
      fchownSync(cloneFd, Number(t.uid), Number(t.gid));
      fchmodSync(cloneFd, Number(t.mode & 0o7777n));
      futimesSync(cloneFd, utimeArg(t.atimeNs), utimeArg(t.mtimeNs));
      const cs = fstatSync(cloneFd, { bigint: true });
      if (cs.uid !== t.uid || cs.gid !== t.gid || cs.mode !== t.mode) {
        throw new Stale(
          `the clone could not take the target's owner, group and mode (${cs.uid}:${cs.gid} ${(cs.mode & 0o7777n).toString(8)}, wanted ${t.uid}:${t.gid} ${(t.mode & 0o7777n).toString(8)})`,
        );
      }
      if (micros(cs.mtimeNs) !== micros(t.mtimeNs))
        throw new Stale("the clone could not take the target's modification time");
      cloneIno = cs.ino;
      failpoint('after-clone-meta', action.id);
      // On record before it replaces anything: recovery recognises our clone by this inode. One
      // commit per action (it cannot wait for a batch: the rename follows). Awaited before the
      // re-checks below, which then run with the rename and nothing in between.
      await this.ctx.catalog.journal.cloneInode({ actionId: action.id, inode: cloneIno });
      checkDirs([v.tdir]);
      checkIdentity(v.tdir.lstat(v.tgtName), plannedTarget(action), exp);
      // The source inode must still hold the bytes we compared (cloning leaves its ctime alone).
      checkIdentity(fstatSync(v.srcFd, { bigint: true }), plannedSource(action), exp);
      failpointPauseSync('execute-act');
      failpoint('before-rename', action.id);
      stage.dir.renameTo(CLONE_NAME, { dir: v.tdir, name: v.tgtName });
    } catch (err) {
      if (cloneFd !== undefined) closeSync(cloneFd);
      const journalClear = stage.remove();
      const error = err instanceof Stale ? err.message : describeErrno(err);
      return { kind: 'failed', v, error, journalClear };
    }
    failpoint('after-rename', action.id);
    closeSync(cloneFd);
    const post = v.tdir.lstat(v.tgtName);
    const oldTarget = fstatSync(v.tgtFd, { bigint: true }); // the replaced inode: one link fewer
    if (oldTarget.nlink > 0n) exp.touched(dev, action.targetInode, oldTarget);
    const journalClear = stage.remove();
    if (post.ino !== cloneIno) {
      return {
        kind: 'failed',
        v,
        error: 'after rename the target is not our clone (something else replaced it meanwhile)',
        journalClear,
      };
    }
    return { kind: 'cloned', v, clone: post, journalClear };
  }
}
