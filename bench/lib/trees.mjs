// Test trees: generation with mktree.py, the cache under bench/.cache/trees, `find` censuses,
// and mktree's --verify of a deduplicated copy.

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { check } from './checks.mjs';
import { MKTREE, REPO, TREES_DIR } from './config.mjs';
import { fatal, firstLine, fmtS, log, rmrf, run } from './util.mjs';

function treeKey(spec) {
  return `files${spec.files}-mb${spec.totalMb}-seed${spec.seed}`;
}

function mktreeArgs(spec) {
  const a = ['--files', String(spec.files), '--total-mb', String(spec.totalMb)];
  return [...a, '--seed', String(spec.seed)];
}

/** Regular files under dir: paths, distinct inodes, apparent bytes, bytes over distinct inodes. */
export function census(dir) {
  const r = run('find', [dir, '-type', 'f', '-printf', '%i %s\n']);
  if (r.status !== 0) throw new Error(`find ${dir} failed: ${firstLine(r.stderr)}`);
  const inodes = new Map();
  let paths = 0;
  let bytesApparent = 0;
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const sp = line.indexOf(' ');
    const size = Number(line.slice(sp + 1));
    paths++;
    bytesApparent += size;
    inodes.set(line.slice(0, sp), size);
  }
  let bytesInodes = 0;
  for (const s of inodes.values()) bytesInodes += s;
  return { paths, inodes: inodes.size, bytesApparent, bytesInodes };
}

export function censusMatches(c, summary) {
  return (
    c.paths === summary.regular_file_paths &&
    c.inodes === summary.distinct_inodes &&
    c.bytesApparent === summary.bytes_apparent &&
    c.bytesInodes === summary.bytes_distinct_inodes
  );
}

/** The cached tree of spec, (re)generated when missing or when `find` disagrees with it. */
export function ensureTree(spec) {
  const key = treeKey(spec);
  const dir = path.join(TREES_DIR, key);
  const sumPath = path.join(TREES_DIR, `${key}.json`);
  const args = mktreeArgs(spec);
  if (fs.existsSync(dir) && fs.existsSync(sumPath)) {
    let summary = null;
    try {
      summary = JSON.parse(fs.readFileSync(sumPath, 'utf8'));
    } catch {
      summary = null;
    }
    if (summary) {
      const c = census(dir);
      if (censusMatches(c, summary)) {
        log(`reusing cached tree ${path.relative(REPO, dir)}`);
        return { spec, key, dir, args, summary, census: c, generated: false };
      }
      log(`cached tree ${dir} no longer matches its summary (modified?): regenerating`);
    }
  }
  rmrf(dir);
  fs.rmSync(sumPath, { force: true });
  fs.mkdirSync(TREES_DIR, { recursive: true });
  log(`generating tree: python3 mktree.py ${path.relative(REPO, dir)} ${args.join(' ')}`);
  const t0 = process.hrtime.bigint();
  const r = run('python3', [MKTREE, dir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) {
    rmrf(dir);
    fatal(`mktree.py failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  }
  const summary = JSON.parse(r.stdout);
  // The summary is written last: its presence marks a complete tree.
  fs.writeFileSync(`${sumPath}.tmp`, JSON.stringify(summary, null, 1) + '\n');
  fs.renameSync(`${sumPath}.tmp`, sumPath);
  log(`  generated in ${fmtS(Number(process.hrtime.bigint() - t0) / 1e9)} s`);
  const c = census(dir);
  if (!censusMatches(c, summary))
    fatal(`find disagrees with mktree's summary for ${dir}: ${JSON.stringify(c)}`);
  return { spec, key, dir, args, summary, census: c, generated: true };
}

/** mktree --verify (sha1 of every file) on the deduplicated copy: the content groups must be
 *  exactly the generator's, and no duplicate inode may be left. */
export function verifyDeduped(id, dir, S, severity) {
  log('  verifying the deduplicated copy (mktree.py --verify: sha1 of every file) ...');
  const r = run('python3', [MKTREE, '--verify', dir]);
  if (r.status !== 0) {
    check(id, 'mktree --verify of the deduplicated copy runs', 0, r.status, severity);
    return;
  }
  const v = JSON.parse(r.stdout);
  const same = ['regular_file_paths', 'distinct_nonempty_contents', 'dup_groups_by_path'];
  for (const k of [...same, 'redundant_bytes_by_path', 'bytes_apparent'])
    check(id, `verify after dedupe: ${k} as generated`, S[k], v[k], severity);
  check(
    id,
    'verify after dedupe: hardlink_dedupe_saving_bytes',
    0,
    v.hardlink_dedupe_saving_bytes,
    severity,
  );
  const inodes = S.distinct_inodes - S.redundant_inodes;
  check(id, 'verify after dedupe: distinct inodes', inodes, v.distinct_inodes, severity);
}
