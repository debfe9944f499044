/**
 * Hardlink replacement (steps 5-8 of execute): check both directories are still where their
 * paths lead, link(source, DIR/.hashall-tmp-…) in the target's directory (linkat from the
 * source's directory fd into the target's: safe-ops.ts), re-check the target's and the source's identity and the temp link, rename the temp
 * link over the target (atomic: the path names the old file or the new link, never nothing),
 * and check the target is the source inode.
 */
import type { BigIntStats } from 'node:fs';
import { atOps } from '../../fs/at-ops.js';
import type { ActionRow } from '../../catalog/actions.js';
import { failpoint, failpointPauseSync } from '../../failpoint.js';
import { describeErrno } from '../../errors.js';
import { Stale, checkDirs, checkIdentity, plannedTarget } from './identity.js';
import type { Replacer, ReplacerContext } from './replacer.js';
import type { Applied, Outcome, Verified } from './types.js';

const fstat = (fd: number): BigIntStats => atOps().fstat(fd);

export class HardlinkReplacer implements Replacer {
  readonly verb = 'link';
  constructor(private readonly ctx: ReplacerContext) {}

  resumed(_action: ActionRow, _targetAbs: Buffer | undefined): Outcome | undefined {
    return undefined; // verification finds the link standing ('already linked')
  }

  checkMetadata(ss: BigIntStats, ts: BigIntStats): void {
    if (ss.mode !== ts.mode || ss.uid !== ts.uid || ss.gid !== ts.gid) {
      throw new Stale(
        'owner/group/mode differ now: a hardlink would change who may read or write the file',
      );
    }
  }

  originalTarget(v: Verified): BigIntStats {
    return v.targetSt;
  }

  prefetch(_page: readonly ActionRow[]): Promise<void> {
    return Promise.resolve(); // resumed() needs nothing of the catalog
  }

  /** Synchronous from the link to the final check: nothing else runs in between. */
  apply(v: Verified): Promise<Applied> {
    return Promise.resolve(this.applySync(v));
  }

  private applySync(v: Verified): Applied {
    const { action } = v;
    const { exp } = this.ctx;
    const dev = action.deviceId;
    failpoint('after-journal', action.id);
    try {
      checkDirs(v.sdir === v.tdir ? [v.tdir] : [v.tdir, v.sdir]);
      failpointPauseSync('execute-act');
      v.tdir.linkFrom({ dir: v.sdir, name: v.srcName }, v.tmpName);
    } catch (err) {
      const error = err instanceof Stale ? err.message : describeErrno(err);
      return { kind: 'failed', v, error, journalClear: true };
    }
    failpoint('after-link', action.id);
    let targetLinks: bigint;
    try {
      const tgtSt = v.tdir.lstat(v.tgtName);
      checkIdentity(tgtSt, plannedTarget(action), exp);
      targetLinks = tgtSt.nlink;
      const tmpSt = v.tdir.lstat(v.tmpName);
      if (tmpSt.ino !== v.sourceIno)
        throw new Stale(
          'stale: the temporary link is not the source (source replaced while linking)',
        );
      // The source inode must still hold the bytes we compared (our link moved its ctime, so
      // mtime and size are what can be checked here). The temp link is that inode (same
      // filesystem, same inode number): its lstat is the source's fstat.
      if (tmpSt.mtimeNs !== action.sourceMtimeNs || tmpSt.size !== BigInt(action.size)) {
        throw new Stale('stale: the source was modified while linking');
      }
      failpoint('before-rename', action.id);
      v.tdir.renameTo(v.tmpName, { dir: v.tdir, name: v.tgtName });
    } catch (err) {
      let journalClear = false;
      try {
        v.tdir.unlink(v.tmpName);
        journalClear = true;
      } catch {
        // the journal row stays: recovery will remove the temp link
      }
      // Linking and unlinking moved the source's ctime: that was us.
      exp.touched(dev, action.sourceInode, fstat(v.srcFd));
      const error = err instanceof Stale ? err.message : describeErrno(err);
      return { kind: 'failed', v, error, journalClear };
    }
    failpoint('after-rename', action.id);
    const post = v.tdir.lstat(v.tgtName);
    // The source inode now: the target path names it (its lstat is the source's fstat).
    const newSource = post.ino === v.sourceIno ? post : fstat(v.srcFd);
    exp.touched(dev, action.sourceInode, newSource);
    // The replaced inode has one link fewer now. When the target was its only link, nothing
    // names it any more: no later check can meet it, and no catalog row is left to update.
    if (targetLinks > 1n) {
      const oldTarget = fstat(v.tgtFd);
      if (oldTarget.nlink > 0n) exp.touched(dev, action.targetInode, oldTarget);
    }
    if (post.ino !== v.sourceIno) {
      return {
        kind: 'failed',
        v,
        error:
          'after rename the target is not the source inode (something else replaced it meanwhile)',
        journalClear: true,
      };
    }
    return { kind: 'executed', v, newSource };
  }
}
