// hashall as measured: a snapshot of dist/ taken at start, its argv and environment, and the
// pieces every hashall row shares (scan, conductor analyze) with their correctness checks.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { check, noteTimeout, parseJson, statusCheck } from './checks.mjs';
import { CLI, NODE, REPO, WORK } from './config.mjs';
import { timed } from './measure.mjs';
import { fatal, firstLine } from './util.mjs';

/**
 * A hashall build this run measures. `current` is a snapshot of dist/ taken at start (see
 * snapshotDist); with --baseline, a second build of another commit runs the same rows
 * (bench/lib/baseline.mjs), interleaved, so old and new share the same conditions.
 */
export const current = { key: 'hashall', title: 'hashall', cli: CLI };

export function hashallEnv() {
  return { ...process.env, HASHALL_CATALOG: path.join(WORK, 'default-catalog.db'), NO_COLOR: '1' };
}

export function hashallArgv(args, build = current) {
  return [NODE, build.cli, ...args];
}

/** Options of a hashall piece: JSON on stdout, the scratch default catalog. */
export const hx = () => ({ capture: true, env: hashallEnv() });

/** sha256 over dist/ (paths and contents), to tell builds apart. */
export function distDigest(dir) {
  const h = createHash('sha256');
  const walk = (d) => {
    for (const e of fs
      .readdirSync(d, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) h.update(path.relative(dir, p)).update('\0').update(fs.readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex').slice(0, 12);
}

/**
 * Copy dist/ and package.json into the scratch directory and run that copy, so that a rebuild
 * of dist/ while the benchmark runs (other work on the repository) cannot mix two builds in
 * one result. node_modules still resolves to the repository's (parent directories).
 */
export function snapshotDist() {
  const root = path.join(WORK, 'hashall');
  fs.mkdirSync(root, { recursive: true });
  fs.cpSync(path.join(REPO, 'dist'), path.join(root, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(root, 'package.json'));
  // The native walk as built (src/fs/native.ts loads it from next to dist/); without it the
  // snapshot measures the JS walk (as HASHALL_NATIVE=0 does on purpose).
  for (const built of ['build/Release/hashall_native.node', 'prebuilds']) {
    const from = path.join(REPO, built);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(root, built), { recursive: true });
  }
  current.cli = path.join(root, 'dist', 'cli', 'main.js');
  const digest = distDigest(path.join(root, 'dist'));
  const builtAt = fs.statSync(CLI).mtime.toISOString();
  const v = spawnSync(NODE, [current.cli, '--version'], { encoding: 'utf8' });
  if (v.status !== 0)
    fatal(`the snapshot of dist/ does not run (${firstLine(v.stderr) || `exit ${v.status}`})`);
  return { digest, builtAt, version: v.stdout.trim() };
}

const scanArgs = (dir, db, extra) => ['scan', dir, ...extra, '--catalog', db, '--json', '-q'];
const analyzeArgs = (db) => ['conductor', 'analyze', '--catalog', db, '--json'];

/** Exit status, file count and error count of a scan; its JSON or null. */
export function checkScan(id, piece, tree) {
  statusCheck(id, piece, 'hashall');
  if (piece.timedOut) return null;
  const j = parseJson(id, piece);
  if (!j) return null;
  const n = piece.name;
  check(id, `${n}: files = regular paths`, tree.summary.regular_file_paths, j.files, 'hashall');
  check(id, `${n}: error_count`, 0, j.error_count ?? (j.errors ?? []).length, 'hashall');
  return j;
}

/** Analyze must find exactly the generator's saving and groups. */
export function checkAnalyze(id, piece, tree) {
  statusCheck(id, piece, 'hashall');
  if (piece.timedOut) return null;
  const j = parseJson(id, piece);
  if (!j) return null;
  check(
    id,
    'analyze same_device.bytes_saveable = hardlink_dedupe_saving_bytes',
    tree.summary.hardlink_dedupe_saving_bytes,
    j.same_device?.bytes_saveable,
    'hashall',
  );
  check(
    id,
    'analyze same_device.groups = dup_groups_by_inode',
    tree.summary.dup_groups_by_inode,
    j.same_device?.groups,
    'hashall',
  );
  return j;
}

/** An untimed scan of dir into db (setup), checked; its JSON or null. */
/** The checks of a rescan's JSON when nothing changed since the scan before: nothing recorded. */
export function checkUnchangedRescan(id, tree, j) {
  check(
    id,
    'rescan: new + changed + moved + deleted',
    0,
    j.new + j.changed + j.moved + j.deleted,
    'hashall',
  );
  check(
    id,
    'rescan: unchanged = regular paths',
    tree.summary.regular_file_paths,
    j.unchanged,
    'hashall',
  );
}

export function untimedScan(id, name, dir, db, tree, build = current) {
  return checkScan(id, timed(name, hashallArgv(scanArgs(dir, db, []), build), hx()), tree);
}

/** An untimed analyze of db, checked against the generator. */
export function untimedAnalyze(id, db, tree, build = current) {
  checkAnalyze(id, timed('analyze (untimed)', hashallArgv(analyzeArgs(db), build), hx()), tree);
}

/**
 * A timed `hashall scan T [extra] --catalog db` piece, checked; notes a cut-off.
 * Returns { piece, json } (json null when it failed or was cut off).
 */
export function timeScan(row, id, { tree, db, name = 'scan', extra = [], build = current }) {
  const piece = row.time(name, hashallArgv(scanArgs(tree.dir, db, extra), build), hx());
  const json = checkScan(id, piece, tree);
  if (piece.timedOut) noteTimeout(id, row);
  return { piece, json };
}

/**
 * The scan + analyze rows: a timed scan, extra checks on its JSON (onScan), then a timed
 * conductor analyze checked against the generator. Stops at the first cut-off.
 */
export function timeScanAndAnalyze(row, id, { tree, db, scanName, onScan, build = current }) {
  const scan = timeScan(row, id, { tree, db, name: scanName, build });
  if (scan.piece.timedOut) return;
  if (scan.json && onScan) onScan(scan.json);
  const b = row.time('analyze', hashallArgv(analyzeArgs(db), build), hx());
  checkAnalyze(id, b, tree);
  if (b.timedOut) noteTimeout(id, row);
}

/**
 * A timed `hashall conductor analyze --rescan --catalog db` piece (the catalog holds T,
 * unchanged since): its `rescan` part must record nothing and hash nothing, and its analysis
 * must find the generator's figures, as the two-command row's pieces must.
 */
export function timeAnalyzeRescan(row, id, { tree, db }) {
  const piece = row.time(
    'analyze --rescan',
    hashallArgv(['conductor', 'analyze', '--rescan', '--catalog', db, '--json', '-q']),
    hx(),
  );
  const j = checkAnalyze(id, piece, tree);
  if (piece.timedOut) return noteTimeout(id, row);
  if (!j) return;
  const scan = j.rescan;
  if (!scan) return check(id, 'analyze --rescan: rescan part present', true, false, 'hashall');
  check(
    id,
    'rescan: files = regular paths',
    tree.summary.regular_file_paths,
    scan.files,
    'hashall',
  );
  check(id, 'rescan: error_count', 0, scan.error_count ?? (scan.errors ?? []).length, 'hashall');
  checkUnchangedRescan(id, tree, scan);
  check(id, 'rescan: hashed_files', 0, scan.hashed_files, 'hashall');
}
