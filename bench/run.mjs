#!/usr/bin/env node
// hashall benchmark: hashall against the duplicate finders (jdupes, rdfind, rmlint, fdupes,
// fclones) and the physical floors, on trees made by ../shared/tools/mktree.py, warm page
// cache. See bench/README.md.
//
//   node bench/run.mjs [--quick] [--runs N] [--million] [--timeout S]
//
// Plain Node ESM, no dependencies beyond Node itself, python3 and the tools it measures.
// This file only sequences the run; each concern lives in bench/lib/ and each row family in
// bench/rows/.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { parseArgs } from './lib/args.mjs';
import { baselineBuild } from './lib/baseline.mjs';
import { problems, timeouts } from './lib/checks.mjs';
import { BENCH_DIR, CACHE, MILLION_TIMEOUT_FACTOR, REPO, TREE_SPECS, WORK } from './lib/config.mjs';
import { copyStats, deleteCopiesParallel } from './lib/copies.mjs';
import { distDigest, snapshotDist } from './lib/hashall.mjs';
import { machineInfo } from './lib/machine.mjs';
import { openDevNull, runRounds } from './lib/measure.mjs';
import { findPeers, peerRows } from './lib/peers.mjs';
import { baselinePairs, renderMarkdown } from './lib/report.mjs';
import { writeResultsJson } from './lib/results-json.mjs';
import { checkPrerequisites, removeStaleWorkDirs } from './lib/setup.mjs';
import { computeTargets } from './lib/targets.mjs';
import { ensureTree } from './lib/trees.mjs';
import { Interrupted, log, rmrf } from './lib/util.mjs';
import { executeRow } from './rows/execute.mjs';
import { fclonesRows } from './rows/fclones.mjs';
import { firstScanRow } from './rows/first-scan.mjs';
import { floorRows } from './rows/floors.mjs';
import { hashAllRow } from './rows/hash-all.mjs';
import { runMillion } from './rows/million.mjs';
import { rescanOneRow, rescanRow } from './rows/rescan.mjs';
import { pgRows } from './rows/pg.mjs';
import { pgBinDir, startCluster } from './lib/pg-cluster.mjs';

/** The throwaway PostgreSQL cluster of the PostgreSQL rows, while it runs. */
let pgCluster = null;

function cleanup() {
  try {
    pgCluster?.stop();
    pgCluster = null;
  } catch (e) {
    process.stderr.write(`bench: could not stop the PostgreSQL cluster: ${e.message}\n`);
  }
  try {
    rmrf(WORK);
  } catch (e) {
    process.stderr.write(`bench: could not remove ${WORK}: ${e.message}\n`);
  }
}

/**
 * The rows on the main tree, in the order they run within a round; with a baseline, each
 * hashall row is followed by the baseline's.
 */
function buildRows(tree, peerInfo, baseline, cluster) {
  const both = (row) => (baseline ? [row(tree), row(tree, baseline)] : [row(tree)]);
  return [
    ...both(firstScanRow),
    ...both(rescanRow),
    // One build only: a baseline from before `analyze --rescan` has no such command.
    rescanOneRow(tree),
    ...(cluster ? pgRows(tree, cluster) : []),
    ...both(hashAllRow),
    ...both(executeRow),
    ...peerRows(tree, peerInfo),
    ...fclonesRows(tree, peerInfo.fclones),
    ...floorRows(tree),
  ];
}

function printSummary(r, outMd, outJson) {
  process.stdout.write('\n');
  for (const c of baselinePairs(r.cmds))
    process.stdout.write(
      `vs baseline: ${c.label.padEnd(46)} ${c.ratio == null ? 'n/a' : c.ratio.toFixed(2) + 'x'}\n`,
    );
  for (const t of r.targets) {
    const v = t.pass === true ? 'PASS' : t.pass === false ? 'FAIL' : 'n/a';
    process.stdout.write(
      `${t.id.padEnd(4)} ${t.what.padEnd(50)} ${t.shown.padStart(10)}  ${t.limit.padEnd(9)} ${v}` +
        `${t.note ? `  (${t.note})` : ''}\n`,
    );
  }
  for (const p of r.problems)
    process.stdout.write(`${p.severity === 'peer' ? 'peer mismatch' : 'MISMATCH'}: ${p.text}\n`);
  for (const t of new Set(r.timeouts)) process.stdout.write(`CUT OFF: ${t}\n`);
  for (const m of r.missing) process.stdout.write(`MISSING PEER: ${m}\n`);
  process.stdout.write(
    `\nwrote ${path.relative(process.cwd(), outMd)} and ${path.relative(process.cwd(), outJson)}\n`,
  );
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  const started = Date.now();
  const loadAtStart = os.loadavg().map((x) => +x.toFixed(2));
  const pyVersion = checkPrerequisites();

  removeStaleWorkDirs();
  fs.mkdirSync(WORK, { recursive: true });
  process.on('exit', cleanup);
  // Handlers run between commands (the loop yields after each one). A Ctrl-C also reaches the
  // running child, which the harness notices and stops at once.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
    process.on(sig, () => {
      log(`${sig}: stopping and cleaning up`);
      cleanup();
      process.exit(130);
    });
  openDevNull();
  const build = snapshotDist();
  log(`measuring hashall ${build.version}, dist/ sha256 ${build.digest} (snapshot)`);

  const { peerInfo, missing } = findPeers();
  const tree = ensureTree(opts.quick ? TREE_SPECS.quick : TREE_SPECS.reference);
  const baseline = opts.baseline ? baselineBuild(opts.baseline) : null;
  if (pgBinDir()) {
    pgCluster = startCluster({ durable: true });
    log('PostgreSQL rows: a throwaway local cluster over its Unix socket (durable settings)');
  } else {
    log('PostgreSQL rows skipped: the server binaries (initdb, pg_ctl) are not installed');
  }
  const cmds = buildRows(tree, peerInfo, baseline, pgCluster);
  await runRounds(cmds, opts.runs, `${tree.spec.name} tree`, opts.timeout);

  let million = null;
  let millionTree = null;
  if (opts.million) {
    millionTree = ensureTree(TREE_SPECS.million);
    // As many timed rounds as the reference tree's, medians reported: one timed run per row
    // swung T6a by more than its margin (a first scan took 20-40 s for one build, on a machine
    // that pages out what was not read for a minute), and the rounds after the warm-up read a
    // tree the round before brought back (~35 s a round, against the warm-up's minutes).
    million = await runMillion(millionTree, opts.runs, opts.timeout * MILLION_TIMEOUT_FACTOR);
  }

  try {
    build.changedDuringRun = distDigest(path.join(REPO, 'dist')) !== build.digest;
  } catch {
    build.changedDuringRun = true;
  }
  if (build.changedDuringRun)
    log('note: dist/ was rebuilt during the run; the snapshot taken at start was measured');
  if (copyStats.copies) {
    log(`deleting ${copyStats.copies} used copies (kept until now, see freshCopy) ...`);
    await deleteCopiesParallel();
  }
  const result = {
    date: new Date().toISOString(),
    argv,
    quick: opts.quick,
    runs: opts.runs,
    timeout: opts.timeout,
    elapsed_s: (Date.now() - started) / 1000,
    machine: {
      ...machineInfo(pyVersion, peerInfo, build),
      load_average_at_start: loadAtStart,
    },
    tree,
    treesUsed: millionTree ? [tree, millionTree] : [tree],
    cmds,
    baseline,
    million,
    millionTree,
    targets: computeTargets(cmds, million, opts.quick),
    problems: problems(),
    timeouts,
    missing,
    copyStats,
  };

  const [outMd, outJson] = opts.quick
    ? [path.join(CACHE, 'quick-RESULTS.md'), path.join(CACHE, 'quick-results.json')]
    : [path.join(BENCH_DIR, 'RESULTS.md'), path.join(BENCH_DIR, 'results.json')];
  fs.writeFileSync(outMd, renderMarkdown(result));
  await writeResultsJson(outJson, result);
  printSummary(result, outMd, outJson);

  const bad = result.problems.filter((p) => p.severity === 'hashall' || p.severity === 'setup');
  if (bad.length) {
    process.stdout.write(`\n${bad.length} hashall/setup mismatch(es): see above. Exit 1.\n`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  if (e instanceof Interrupted) {
    log(`interrupted (${e.message}); cleaning up`);
    cleanup();
    process.exit(130);
  }
  process.stderr.write(`bench: internal error: ${e.stack ?? e}\n`);
  cleanup();
  process.exit(2);
});
