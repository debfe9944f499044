/**
 * Steps 1-3 of execute for one action: open both parent directories and verify the kernel
 * opened the planned paths; lstat both (regular files, same filesystem, the identity the plan
 * recorded); compare the bytes (or re-hash both against the plan's SHA-256). A verified action
 * keeps both files open and both directories pinned until its batch is applied.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync } from 'node:fs';
import { atOps } from '../../fs/at-ops.js';
import type { ActionRow } from '../../catalog/actions.js';
import { describeErrno } from '../../errors.js';
import { openRegularAt, sameBytes, type VerifiedDir } from '../../fs/safe-ops.js';
import { TEMP_PREFIX } from '../../fs/temp-name.js';
import { baseName, parentOf } from '../../paths.js';
import type { DirCache } from '../../fs/dir-cache.js';
import {
  Stale,
  checkIdentity,
  hashFd,
  plannedSource,
  plannedTarget,
  type Expectations,
} from './identity.js';
import type { Replacer } from './replacer.js';
import type { Outcome, Verified, Verify } from './types.js';

export type Verification =
  { kind: 'verified'; v: Verified } | { kind: 'outcome'; outcome: Outcome };

export class Verifier {
  constructor(
    private readonly c: {
      readonly planId: number;
      readonly dryRun: boolean;
      readonly verify: Verify;
      readonly dirs: DirCache;
      readonly exp: Expectations;
      readonly replacer: Replacer;
      /** Two read buffers for the comparison (the replacer uses `a` only after it). */
      readonly bufs: { readonly a: Buffer; readonly b: Buffer };
    },
  ) {}

  /** Random bytes for temp names, drawn 4 at a time (one randomBytes call per action was 2%). */
  private randomPool = Buffer.alloc(0);
  private randomAt = 0;

  /** 8 random hex digits. */
  private random8(): string {
    if (this.randomAt + 4 > this.randomPool.length) {
      this.randomPool = randomBytes(4096);
      this.randomAt = 0;
    }
    this.randomAt += 4;
    return this.randomPool.toString('hex', this.randomAt - 4, this.randomAt);
  }

  /** A NOOP action (the files were already links when planned): does the link still stand? */
  checkNoop(sourceAbs: Buffer | undefined, targetAbs: Buffer | undefined): Outcome {
    if (!sourceAbs || !targetAbs) return { kind: 'noop', why: 'device not mounted' };
    try {
      const a = lstatSync(sourceAbs, { bigint: true });
      const b = lstatSync(targetAbs, { bigint: true });
      return {
        kind: 'noop',
        why:
          a.ino === b.ino && a.dev === b.dev
            ? 'already linked'
            : 'no longer linked (rescan and re-plan)',
      };
    } catch (err) {
      return { kind: 'noop', why: `cannot check: ${describeErrno(err)}` };
    }
  }

  /**
   * Steps 1-3. On success the two fds stay open and the two directories pinned for the batch;
   * otherwise they are closed and unpinned.
   */
  verify(action: ActionRow, sourceAbs: Buffer, targetAbs: Buffer): Verification {
    const { dirs } = this.c;
    const tdir = dirs.get(parentOf(targetAbs));
    dirs.pin(tdir);
    let sdir: VerifiedDir | undefined;
    let r: Verification | undefined;
    try {
      sdir = dirs.get(parentOf(sourceAbs));
      dirs.pin(sdir);
      r = this.verifyIn(action, { sourceAbs, targetAbs, tdir, sdir });
      return r;
    } finally {
      if (r?.kind !== 'verified') {
        dirs.unpin(tdir);
        if (sdir) dirs.unpin(sdir);
      }
    }
  }

  private verifyIn(
    action: ActionRow,
    at: { sourceAbs: Buffer; targetAbs: Buffer; tdir: VerifiedDir; sdir: VerifiedDir },
  ): Verification {
    const { sourceAbs, targetAbs, tdir, sdir } = at;
    const { exp } = this.c;
    const srcName = baseName(sourceAbs);
    const tgtName = baseName(targetAbs);
    const ss = sdir.lstat(srcName);
    const ts = tdir.lstat(tgtName);
    if (ss.isFile() && ts.isFile() && ss.ino === ts.ino && ss.dev === ts.dev) {
      return { kind: 'outcome', outcome: { kind: 'noop', why: 'already linked' } };
    }
    if (ss.dev !== ts.dev) {
      throw new Stale(
        'cross-device: source and target are on different filesystems now (EXDEV); never linked',
      );
    }
    checkIdentity(ss, plannedSource(action), exp);
    checkIdentity(ts, plannedTarget(action), exp);
    this.c.replacer.checkMetadata(ss, ts);
    // Prove the content: open both (no symlink, no FIFO), confirm they are the files stat'ed.
    const fds: number[] = [];
    let keep = false;
    try {
      const src = openRegularAt(sdir, srcName);
      fds.push(src.fd);
      const tgt = openRegularAt(tdir, tgtName);
      fds.push(tgt.fd);
      if (src.st.ino !== ss.ino || tgt.st.ino !== ts.ino)
        throw new Stale('stale: a file was replaced while it was opened');
      if (this.c.verify === 'hash') {
        const hs = hashFd(src.fd, this.c.bufs.a);
        const ht = hashFd(tgt.fd, this.c.bufs.a);
        if (!action.groupHash || !hs.equals(action.groupHash) || !ht.equals(action.groupHash)) {
          throw new Stale(
            "content mismatch despite matching hash: the files no longer hash to the plan's SHA-256; nothing touched",
          );
        }
      } else if (!sameBytes(src.fd, tgt.fd, action.size, this.c.bufs)) {
        throw new Stale(
          'content mismatch despite matching hash: the bytes differ; nothing touched (investigate these files)',
        );
      }
      // Nothing may have changed while we compared.
      // (The native comparison reads exactly the planned size: these prove both files still
      // have it, unmodified, so neither grew or shrank while read.)
      checkIdentity(atOps().fstat(src.fd), plannedSource(action), exp);
      checkIdentity(atOps().fstat(tgt.fd), plannedTarget(action), exp);
      if (this.c.dryRun) return { kind: 'outcome', outcome: { kind: 'would-link' } };

      const tmpName = Buffer.from(`${TEMP_PREFIX}${this.c.planId}-${action.id}-${this.random8()}`);
      keep = true;
      return {
        kind: 'verified',
        v: {
          action,
          sourceAbs,
          targetAbs,
          srcName,
          tgtName,
          tempAbs: Buffer.concat([tdir.abs, Buffer.from('/'), tmpName]),
          srcFd: src.fd,
          tgtFd: tgt.fd,
          sourceIno: ss.ino,
          targetSt: ts,
          tdir,
          sdir,
          tmpName,
        },
      };
    } finally {
      if (!keep) for (const fd of fds) closeSync(fd);
    }
  }
}
