// Prerequisites: python3, the built CLI, mktree.py, GNU time, timeout; installing a missing
// Debian-packaged tool; scratch directories left behind by killed runs.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { CACHE, CLI, GNU_TIME, MKTREE, READALL, REPO } from './config.mjs';
import { fatal, firstLine, log, rmrf, run, which } from './util.mjs';

/** The tool's path, trying `apt-get install -y pkg` when it is not on PATH. */
export function ensureTool(bin, pkg) {
  let p = which(bin);
  if (p) return { path: p };
  log(`${bin} not found; trying apt-get install -y ${pkg}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const inst = () =>
    run('apt-get', ['install', '-y', pkg], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let r = inst();
  if (r.status !== 0) {
    run('apt-get', ['update'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    r = inst();
  }
  p = which(bin);
  if (p) return { path: p, installed: true };
  const why = r.error ? r.error.message : firstLine(r.stderr) || `exit ${r.status}`;
  return { path: null, error: `not installed and apt-get install -y ${pkg} failed: ${why}` };
}

/** Exits 2 when something the benchmark cannot run without is missing; python3's version. */
export function checkPrerequisites() {
  const py = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  if (py.error || py.status !== 0)
    fatal(
      'python3 not found. The benchmark needs python3 to generate trees (mktree.py) and for ' +
        'the read floor (bench/readall.py): apt-get install -y python3',
    );
  if (!fs.existsSync(CLI))
    fatal(
      `the hashall CLI is not built: ${CLI} is missing.\n` +
        `Build it first:  (cd ${REPO} && npm run build)`,
    );
  if (!fs.existsSync(MKTREE))
    fatal(`tree generator not found at ${MKTREE} (expected ../shared/tools/mktree.py)`);
  if (!fs.existsSync(READALL)) fatal(`${READALL} is missing`);
  const t = ensureTool('time', 'time');
  if (!t.path || !fs.existsSync(GNU_TIME))
    fatal(`GNU time is needed at ${GNU_TIME} to measure peak RSS (${t.error ?? 'not found'})`);
  if (!which('timeout')) fatal('coreutils timeout is needed (apt-get install -y coreutils)');
  return (py.stdout || py.stderr).trim();
}

/** Remove scratch directories left by earlier runs that were killed (their pid is gone). */
export function removeStaleWorkDirs() {
  if (!fs.existsSync(CACHE)) return;
  for (const name of fs.readdirSync(CACHE)) {
    const m = /^work-(\d+)$/.exec(name);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      alive = e.code !== 'ESRCH';
    }
    if (!alive) {
      log(`removing stale scratch directory ${name}`);
      rmrf(path.join(CACHE, name));
    }
  }
}
