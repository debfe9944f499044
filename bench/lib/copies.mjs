// Fresh `cp -a` copies of the tree for the rows that modify it, and their (late) deletion.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { check } from './checks.mjs';
import { WORK } from './config.mjs';
import { census, censusMatches } from './trees.mjs';
import { fatal, firstLine, log, rmrf, run, syncDisks } from './util.mjs';

const COPIES = () => path.join(WORK, 'copies');
export const copyStats = { copies: 0, seconds: 0, deleteSeconds: 0 };
let copySeq = 0;

/**
 * A fresh `cp -a` of src (hardlinks preserved) in the scratch directory, untimed, then synced
 * so that its writeback does not land in the next measurement. Used copies are NOT deleted
 * until the end of the run (unless disk space runs short): on ext4, creating files right after
 * deleting 100k others is several times slower (the inode allocator skips recently deleted
 * inodes), which made each copy take over a minute on the reference tree.
 */
function freshCopy(src, summary) {
  fs.mkdirSync(COPIES(), { recursive: true });
  const st = fs.statfsSync(COPIES());
  if (st.bavail * st.bsize < summary.bytes_apparent * 1.2 + 2 ** 31) {
    log('  disk space is short: deleting the used copies now');
    deleteCopies();
    fs.mkdirSync(COPIES(), { recursive: true });
  }
  const dst = path.join(COPIES(), String(++copySeq));
  const t0 = process.hrtime.bigint();
  const r = run('cp', ['-a', src, dst]);
  if (r.status !== 0) fatal(`cp -a ${src} ${dst} failed: ${firstLine(r.stderr)}`);
  syncDisks();
  copyStats.copies++;
  copyStats.seconds += Number(process.hrtime.bigint() - t0) / 1e9;
  return dst;
}

/** A fresh copy of the tree and its census, checked to be identical to the tree. */
export function checkedCopy(id, tree) {
  const copy = freshCopy(tree.dir, tree.summary);
  const before = census(copy);
  check(
    id,
    'cp -a copy has the same inodes/bytes as T',
    true,
    censusMatches(before, tree.summary),
    'setup',
  );
  return { copy, before };
}

/** After deduplicating a copy: the bytes freed on disk and the path count; the new census. */
export function checkFreed(id, { copy, before, expected, severity }) {
  const after = census(copy);
  const freed = before.bytesInodes - after.bytesInodes;
  check(id, 'bytes freed on disk (distinct inodes before - after)', expected, freed, severity);
  check(id, 'regular paths unchanged', before.paths, after.paths, severity);
  return after;
}

/** Delete the used copies at the end, all at once: unlinking waits on the disk (this
 *  filesystem may be mounted with `discard`), so parallel deletions overlap those waits. */
export async function deleteCopiesParallel() {
  if (!fs.existsSync(COPIES())) return;
  const t0 = process.hrtime.bigint();
  const dirs = fs.readdirSync(COPIES()).map((n) => path.join(COPIES(), n));
  await Promise.all(
    dirs.map(
      (d) =>
        new Promise((resolve) => {
          const c = spawn('rm', ['-rf', '--', d], { stdio: 'ignore' });
          c.on('close', resolve);
          c.on('error', resolve);
        }),
    ),
  );
  rmrf(COPIES());
  syncDisks();
  copyStats.deleteSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
}

function deleteCopies() {
  if (!fs.existsSync(COPIES())) return;
  const t0 = process.hrtime.bigint();
  rmrf(COPIES());
  syncDisks();
  copyStats.deleteSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
}
