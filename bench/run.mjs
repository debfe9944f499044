#!/usr/bin/env node
// hashall benchmark: hashall against the Debian-packaged duplicate finders and the physical
// floors, on trees made by ../shared/tools/mktree.py, warm page cache. See bench/README.md.
//
//   node bench/run.mjs [--quick] [--runs N] [--million] [--timeout S]
//
// Plain Node ESM, no dependencies beyond Node itself, python3 and the tools it measures.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setImmediate } from 'node:timers';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const SHARED = path.resolve(REPO, '../shared');
const MKTREE = path.join(SHARED, 'tools', 'mktree.py');
const CLI = path.join(REPO, 'dist', 'cli', 'main.js');
const READALL = path.join(BENCH_DIR, 'readall.py');
const CACHE = path.join(BENCH_DIR, '.cache');
const TREES_DIR = path.join(CACHE, 'trees');
// Scratch space of this invocation (catalogs, copies, peer cwd); removed on exit.
const WORK = path.join(CACHE, `work-${process.pid}`);
const GNU_TIME = '/usr/bin/time';
const NODE = process.execPath;
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const TREE_SPECS = {
  reference: { name: 'reference', files: 100000, totalMb: 2048, seed: 1 },
  quick: { name: 'quick', files: 3000, totalMb: 60, seed: 1 },
  million: { name: '1M files', files: 1000000, totalMb: 1024, seed: 1 },
};

const PEERS = [
  { bin: 'jdupes', pkg: 'jdupes', version: ['-v'] },
  { bin: 'rdfind', pkg: 'rdfind', version: ['--version'] },
  { bin: 'rmlint', pkg: 'rmlint', version: ['--version'] },
  { bin: 'fdupes', pkg: 'fdupes', version: ['--version'] },
];

// Targets of DESIGN.md §6. RSS limits use decimal megabytes (the stricter reading of "MB").
const MB = 1e6;
const RSS_LIMIT_REF = 200 * MB;
const RSS_LIMIT_MILLION = 512 * MB;
const DEFAULT_TIMEOUT_S = 120;
const MILLION_TIMEOUT_FACTOR = 10;

class Interrupted extends Error {}

// ------------------------------------------------------------------------------------------
// small helpers

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

function fatal(msg, code = 2) {
  process.stderr.write(`\nbench: error: ${msg}\n`);
  process.exit(code);
}

function usage(msg) {
  if (msg) process.stderr.write(`bench: ${msg}\n`);
  process.stderr.write(
    'usage: node bench/run.mjs [--quick] [--runs N] [--million] [--timeout S]\n' +
      '  --quick      small tree (3,000 files, 60 MiB), 1 run; writes bench/.cache/quick-*\n' +
      '  --runs N     timed runs per command after one warm-up (default 3; 1 with --quick)\n' +
      '  --million    also scan a 1,000,000-file tree (time + peak RSS; slow to generate)\n' +
      `  --timeout S  cut a row off after S seconds of timed work (default ${DEFAULT_TIMEOUT_S});\n` +
      '               a row that hits it is reported as "> S" and not repeated\n',
  );
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const o = { quick: false, million: false, runs: undefined, timeout: DEFAULT_TIMEOUT_S };
  const num = (a, i) => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      usage(`${a.split('=')[0]} needs a positive integer, got ${v}`);
    return [n, a.includes('=') ? i : i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--million') o.million = true;
    else if (a === '--runs' || a.startsWith('--runs=')) [o.runs, i] = num(a, i);
    else if (a === '--timeout' || a.startsWith('--timeout=')) [o.timeout, i] = num(a, i);
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument: ${a}`);
  }
  o.runs ??= o.quick ? 1 : 3;
  return o;
}

function interruptedBy(r) {
  return ['SIGINT', 'SIGTERM', 'SIGHUP'].includes(r.signal ?? '') || r.status === 130;
}

/** Run a command untimed; returns the spawnSync result (stdout/stderr as strings). */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
  if (interruptedBy(r)) throw new Interrupted(`${cmd} was interrupted`);
  return r;
}

function firstLine(s) {
  return (s ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
}

function which(bin) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

function rmrf(p) {
  fs.rmSync(p, { recursive: true, force: true });
}

function rmCatalog(db) {
  for (const s of ['', '-wal', '-shm', '-journal']) fs.rmSync(db + s, { force: true });
}

function syncDisks() {
  run('sync', []);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const yieldToSignals = () => new Promise((r) => setImmediate(r));
const fmtS = (x) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const fmtMiB = (kib) => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : 'n/a');
const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n));
const mdCode = (s) => '`' + String(s).replaceAll('|', '\\|') + '`';
const mdCell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');

// ------------------------------------------------------------------------------------------
// environment checks

function ensureTool(bin, pkg) {
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

function checkPrerequisites() {
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
function removeStaleWorkDirs() {
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

// ------------------------------------------------------------------------------------------
// trees

function treeKey(spec) {
  return `files${spec.files}-mb${spec.totalMb}-seed${spec.seed}`;
}

function mktreeArgs(spec) {
  const a = ['--files', String(spec.files), '--total-mb', String(spec.totalMb)];
  return [...a, '--seed', String(spec.seed)];
}

/** Regular files under dir: paths, distinct inodes, apparent bytes, bytes over distinct inodes. */
function census(dir) {
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

function censusMatches(c, summary) {
  return (
    c.paths === summary.regular_file_paths &&
    c.inodes === summary.distinct_inodes &&
    c.bytesApparent === summary.bytes_apparent &&
    c.bytesInodes === summary.bytes_distinct_inodes
  );
}

function ensureTree(spec) {
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

// ------------------------------------------------------------------------------------------
// timing

let devNull = -1;

/**
 * Run argv under GNU time (inside coreutils timeout when timeoutS is given). Wall clock comes
 * from process.hrtime around the child (ns resolution; time's own %e only has 10 ms); peak RSS
 * is %M (KiB; wait4 semantics: the largest process of the tree); CPU is %U + %S.
 */
function timed(name, argv, { cwd = WORK, capture = false, env, timeoutS } = {}) {
  const tf = path.join(WORK, 'time.out');
  fs.rmSync(tf, { force: true });
  const cut = timeoutS ? ['timeout', '--foreground', '-k', '15', String(Math.ceil(timeoutS))] : [];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(GNU_TIME, ['-f', '%e %M %U %S', '-o', tf, ...cut, ...argv], {
    cwd,
    env: env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', capture ? 'pipe' : devNull, 'pipe'],
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (interruptedBy(r)) throw new Interrupted(`${name} was interrupted`);
  let rssKiB = NaN;
  let cpu = NaN;
  let note = '';
  try {
    const lines = fs.readFileSync(tf, 'utf8').trim().split('\n');
    const last = (lines.pop() ?? '').trim().split(/\s+/).map(Number);
    rssKiB = last[1] ?? NaN;
    cpu = (last[2] ?? NaN) + (last[3] ?? NaN);
    note = lines.join(' ').trim(); // "Command exited with non-zero status N" etc.
  } catch (e) {
    note = `no GNU time output: ${e.message}`;
  }
  const status = r.error ? -1 : r.status;
  return {
    name,
    wall,
    rssKiB,
    cpu,
    status,
    timedOut: Boolean(timeoutS) && (status === 124 || status === 137),
    note: r.error ? r.error.message : note,
    stdout: capture ? r.stdout : '',
    stderr: r.stderr ?? '',
  };
}

/** The timed pieces of one row share one time budget (--timeout). */
class Row {
  constructor(limitS) {
    this.limitS = limitS;
    this.pieces = [];
    this.notes = [];
  }
  get timedOut() {
    return this.pieces.some((p) => p.timedOut);
  }
  time(name, argv, opts = {}) {
    const used = this.pieces.reduce((a, p) => a + p.wall, 0);
    const p = timed(name, argv, { ...opts, timeoutS: Math.max(1, this.limitS - used) });
    this.pieces.push(p);
    if (p.timedOut) log(`  ${name}: cut off after ${fmtS(p.wall)} s (--timeout ${this.limitS})`);
    return p;
  }
  result() {
    const ps = this.pieces;
    return {
      wall: ps.reduce((a, p) => a + p.wall, 0),
      cpu: ps.reduce((a, p) => a + p.cpu, 0),
      rssKiB: Math.max(...ps.map((p) => p.rssKiB)),
      status: ps.map((p) => p.status),
      timedOut: this.timedOut,
      pieces: ps.map((p) => ({ name: p.name, wall: p.wall, cpu: p.cpu, rssKiB: p.rssKiB })),
      notes: this.notes,
    };
  }
}

// ------------------------------------------------------------------------------------------
// correctness checks

const checks = new Map();
const timeouts = [];

/** severity: 'hashall' (wrong figure => exit 1), 'setup' (benchmark invalid => exit 1),
 *  'peer' (reported only), 'info' (reported only, no target). */
function check(cmdId, what, expected, actual, severity) {
  const key = `${cmdId}\u0000${what}`;
  let c = checks.get(key);
  if (!c) {
    c = { command: cmdId, what, severity, expected, observed: [], runs: 0, failures: 0 };
    checks.set(key, c);
  }
  c.runs++;
  const ok = actual === expected;
  if (!ok) c.failures++;
  if (!c.observed.some((o) => o === actual)) c.observed.push(actual);
  if (!ok && severity !== 'info')
    log(`  MISMATCH [${cmdId}] ${what}: expected ${expected}, got ${actual}`);
  return ok;
}

function parseJson(cmdId, piece, severity = 'hashall') {
  try {
    return JSON.parse(piece.stdout);
  } catch {
    if (!piece.timedOut) check(cmdId, `${piece.name} prints valid JSON`, true, false, severity);
    const err = firstLine(piece.stderr);
    if (err) log(`  [${cmdId}] ${piece.name} stderr: ${err}`);
    return null;
  }
}

function statusCheck(id, piece, severity) {
  if (piece.timedOut) return;
  check(id, `${piece.name} exits 0`, 0, piece.status, severity);
  if (piece.status !== 0) {
    const msg = firstLine(piece.stderr) || piece.note;
    if (msg) log(`  [${id}] ${piece.name} exit ${piece.status}: ${msg}`);
  }
}

function noteTimeout(id, row, progress) {
  const p = row.pieces.find((x) => x.timedOut);
  const text =
    `${id}: \`${p?.name}\` did not finish within --timeout ${row.limitS} s` +
    `${progress ? ` (${progress})` : ''}; its figures were not verified in that run`;
  row.notes.push(text);
  timeouts.push(text);
}

// ------------------------------------------------------------------------------------------
// commands

function hashallEnv() {
  return { ...process.env, HASHALL_CATALOG: path.join(WORK, 'default-catalog.db'), NO_COLOR: '1' };
}

/** The hashall build this run measures: a snapshot of dist/ taken at start (see snapshotDist). */
let cliSnapshot = CLI;

function hashallArgv(args) {
  return [NODE, cliSnapshot, ...args];
}

/** sha256 over dist/ (paths and contents), to tell builds apart. */
function distDigest(dir) {
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
function snapshotDist() {
  const root = path.join(WORK, 'hashall');
  fs.mkdirSync(root, { recursive: true });
  fs.cpSync(path.join(REPO, 'dist'), path.join(root, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(root, 'package.json'));
  cliSnapshot = path.join(root, 'dist', 'cli', 'main.js');
  const digest = distDigest(path.join(root, 'dist'));
  const builtAt = fs.statSync(CLI).mtime.toISOString();
  const v = spawnSync(NODE, [cliSnapshot, '--version'], { encoding: 'utf8' });
  if (v.status !== 0)
    fatal(`the snapshot of dist/ does not run (${firstLine(v.stderr) || `exit ${v.status}`})`);
  return { digest, builtAt, version: v.stdout.trim() };
}

/** An untimed hashall command (setup); its JSON or null. */
function hashallUntimed(id, name, args, tree) {
  const p = timed(name, hashallArgv(args), { capture: true, env: hashallEnv() });
  return args[0] === 'scan' ? checkScan(id, p, tree) : p;
}

const COPIES = () => path.join(WORK, 'copies');
const copyStats = { copies: 0, seconds: 0, deleteSeconds: 0 };
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

/** Delete the used copies at the end, all at once: unlinking waits on the disk (this
 *  filesystem may be mounted with `discard`), so parallel deletions overlap those waits. */
async function deleteCopiesParallel() {
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

function checkScan(id, piece, tree) {
  statusCheck(id, piece, 'hashall');
  if (piece.timedOut) return null;
  const j = parseJson(id, piece);
  if (!j) return null;
  const n = piece.name;
  check(id, `${n}: files = regular paths`, tree.summary.regular_file_paths, j.files, 'hashall');
  check(id, `${n}: error_count`, 0, j.error_count ?? (j.errors ?? []).length, 'hashall');
  return j;
}

function checkAnalyze(id, piece, tree) {
  statusCheck(id, piece, 'hashall');
  if (piece.timedOut) return;
  const j = parseJson(id, piece);
  if (!j) return;
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
}

function buildCommands(tree, peerInfo) {
  const T = tree.dir;
  const S = tree.summary;
  const expected = S.hardlink_dedupe_saving_bytes;
  const peerCwd = path.join(WORK, 'peer-cwd');
  fs.mkdirSync(peerCwd, { recursive: true });
  const cat = (n) => path.join(WORK, `${n}.db`);
  const rescanState = { ready: false };
  const hx = { capture: true, env: hashallEnv() };
  const cmds = [];

  cmds.push({
    id: 'hashall-first',
    group: 'hashall',
    label: 'hashall first scan + analyze',
    shown: 'hashall scan T --catalog NEW.db; hashall conductor analyze --catalog NEW.db',
    run(row) {
      const db = cat('first');
      rmCatalog(db);
      const a = row.time('scan', hashallArgv(['scan', T, '--catalog', db, '--json', '-q']), hx);
      checkScan(this.id, a, tree);
      if (a.timedOut) return noteTimeout(this.id, row);
      const b = row.time(
        'analyze',
        hashallArgv(['conductor', 'analyze', '--catalog', db, '--json']),
        hx,
      );
      checkAnalyze(this.id, b, tree);
      if (b.timedOut) noteTimeout(this.id, row);
    },
  });

  cmds.push({
    id: 'hashall-rescan',
    group: 'hashall',
    label: 'hashall rescan + analyze',
    shown: 'hashall scan T --catalog SCANNED.db; hashall conductor analyze --catalog SCANNED.db',
    run(row) {
      const db = cat('rescan');
      if (!rescanState.ready) {
        rmCatalog(db);
        hashallUntimed(
          this.id,
          'initial (untimed) scan',
          ['scan', T, '--catalog', db, '--json', '-q'],
          tree,
        );
        rescanState.ready = true;
      }
      const a = row.time('rescan', hashallArgv(['scan', T, '--catalog', db, '--json', '-q']), hx);
      const j = checkScan(this.id, a, tree);
      if (a.timedOut) return noteTimeout(this.id, row);
      if (j) {
        const moved = j.new + j.changed + j.moved + j.deleted;
        check(this.id, 'rescan: new + changed + moved + deleted', 0, moved, 'hashall');
        check(
          this.id,
          'rescan: unchanged = regular paths',
          S.regular_file_paths,
          j.unchanged,
          'hashall',
        );
        check(this.id, 'rescan: hashed_files', 0, j.hashed_files, 'hashall');
      }
      const b = row.time(
        'analyze',
        hashallArgv(['conductor', 'analyze', '--catalog', db, '--json']),
        hx,
      );
      checkAnalyze(this.id, b, tree);
      if (b.timedOut) noteTimeout(this.id, row);
    },
  });

  cmds.push({
    id: 'hashall-hash-all',
    group: 'hashall',
    label: 'hashall scan --hash all',
    shown: 'hashall scan T --hash all --catalog NEW.db',
    run(row, { warm }) {
      const db = cat('hashall');
      rmCatalog(db);
      const args = ['scan', T, '--hash', 'all', '--catalog', db, '--json', '-q'];
      const a = row.time('scan --hash all', hashallArgv(args), hx);
      const j = checkScan(this.id, a, tree);
      if (a.timedOut) return noteTimeout(this.id, row);
      // Informational: bytes hashed against the bytes on distinct inodes.
      if (j)
        check(
          this.id,
          'hashed_bytes = bytes on distinct inodes',
          S.bytes_distinct_inodes,
          j.hashed_bytes,
          'info',
        );
      if (warm) {
        const b = timed(
          'analyze (untimed)',
          hashallArgv(['conductor', 'analyze', '--catalog', db, '--json']),
          hx,
        );
        checkAnalyze(this.id, b, tree);
      }
    },
  });

  cmds.push({
    id: 'hashall-dedupe',
    group: 'hashall',
    label: 'hashall plan + execute --force (fresh copy)',
    shown:
      'hashall conductor plan NAME --catalog C.db; hashall conductor execute ID --force --catalog C.db',
    run(row, { warm, round }) {
      const db = cat('dedupe');
      const copy = freshCopy(T, S);
      rmCatalog(db);
      try {
        const before = census(copy);
        check(
          this.id,
          'cp -a copy has the same inodes/bytes as T',
          true,
          censusMatches(before, S),
          'setup',
        );
        hashallUntimed(
          this.id,
          'untimed scan of the copy',
          ['scan', copy, '--catalog', db, '--json', '-q'],
          tree,
        );
        const p = row.time(
          'plan',
          hashallArgv(['conductor', 'plan', `bench-${round}`, '--catalog', db, '--json']),
          hx,
        );
        statusCheck(this.id, p, 'hashall');
        if (p.timedOut) return noteTimeout(this.id, row);
        const pj = parseJson(this.id, p);
        if (!pj) return;
        check(
          this.id,
          'plan bytes_saveable = hardlink_dedupe_saving_bytes',
          expected,
          pj.bytes_saveable,
          'hashall',
        );
        const exArgs = [
          'conductor',
          'execute',
          String(pj.id),
          '--force',
          '--catalog',
          db,
          '--json',
        ];
        const e = row.time('execute', hashallArgv(exArgs), hx);
        statusCheck(this.id, e, 'hashall');
        if (e.timedOut) {
          let done = '';
          try {
            const ej = JSON.parse(e.stdout);
            done = `${fmtInt(ej.executed)} of ${fmtInt(pj.actions?.HARDLINK)} HARDLINK actions done, ${fmtInt(ej.bytes_saved)} B freed`;
          } catch {
            done = `${fmtInt(pj.actions?.HARDLINK)} HARDLINK actions planned`;
          }
          return noteTimeout(this.id, row, done);
        }
        const ej = parseJson(this.id, e);
        if (ej) {
          check(
            this.id,
            'execute bytes_saved = hardlink_dedupe_saving_bytes',
            expected,
            ej.bytes_saved,
            'hashall',
          );
          check(this.id, 'execute failed', 0, ej.failed, 'hashall');
          check(this.id, 'execute status', 'executed', ej.status, 'hashall');
        }
        const after = census(copy);
        const freed = before.bytesInodes - after.bytesInodes;
        check(
          this.id,
          'bytes freed on disk (distinct inodes before - after)',
          expected,
          freed,
          'hashall',
        );
        check(this.id, 'regular paths unchanged', before.paths, after.paths, 'hashall');
        check(
          this.id,
          'apparent bytes unchanged',
          before.bytesApparent,
          after.bytesApparent,
          'hashall',
        );
        if (warm) verifyDeduped(this.id, copy, S, 'hashall');
      } finally {
        rmCatalog(db);
        rmrf(path.join(WORK, 'logs'));
      }
    },
  });

  const peer = (id, bin, args, shown) => {
    const info = peerInfo[bin];
    cmds.push({
      id,
      group: 'peer',
      label: id,
      shown,
      missing: info.path ? null : info.error,
      run(row) {
        const a = row.time(bin, [info.path, ...args], { cwd: peerCwd });
        statusCheck(this.id, a, 'peer');
        if (a.timedOut) noteTimeout(this.id, row);
      },
    });
  };
  peer('jdupes', 'jdupes', ['-r', '-q', T], 'jdupes -r -q T');
  peer(
    'rdfind',
    'rdfind',
    ['-dryrun', 'true', '-makeresultsfile', 'false', T],
    'rdfind -dryrun true -makeresultsfile false T',
  );
  peer(
    'rmlint',
    'rmlint',
    // Real files, never /dev/null: rmlint replaces its output files (write + rename), which
    // turned /dev/null into a regular file for every later process on the machine.
    [
      '-T',
      'df',
      '-o',
      `json:${path.join(WORK, 'rmlint.json')}`,
      '-o',
      `summary:${path.join(WORK, 'rmlint.txt')}`,
      T,
    ],
    'rmlint -T df -o json:WORK/rmlint.json -o summary:WORK/rmlint.txt T',
  );
  peer('fdupes', 'fdupes', ['-r', '-q', T], 'fdupes -r -q T');

  const jd = peerInfo.jdupes;
  cmds.push({
    id: 'jdupes-L',
    group: 'peer',
    label: 'jdupes -L (fresh copy)',
    shown: 'jdupes -r -L -q COPY',
    missing: jd.path ? null : jd.error,
    run(row) {
      const copy = freshCopy(T, S);
      const before = census(copy);
      check(
        this.id,
        'cp -a copy has the same inodes/bytes as T',
        true,
        censusMatches(before, S),
        'setup',
      );
      const a = row.time('jdupes -L', [jd.path, '-r', '-L', '-q', copy], { cwd: peerCwd });
      statusCheck(this.id, a, 'peer');
      if (a.timedOut) return noteTimeout(this.id, row);
      const after = census(copy);
      const freed = before.bytesInodes - after.bytesInodes;
      check(
        this.id,
        'bytes freed on disk (distinct inodes before - after)',
        expected,
        freed,
        'peer',
      );
      check(this.id, 'regular paths unchanged', before.paths, after.paths, 'peer');
    },
  });

  cmds.push({
    id: 'floor-find',
    group: 'floor',
    label: 'floor: metadata walk',
    shown: "find T -type f -printf '%s %i\\n'",
    run(row) {
      const a = row.time('find', ['find', T, '-type', 'f', '-printf', '%s %i\n']);
      statusCheck(this.id, a, 'setup');
      if (a.timedOut) noteTimeout(this.id, row);
    },
  });

  cmds.push({
    id: 'floor-read',
    group: 'floor',
    label: 'floor: read everything',
    shown: 'find T -type f -print0 | python3 bench/readall.py',
    run(row) {
      const sh = 'find "$1" -type f -print0 | python3 "$2"';
      const a = row.time('readall', ['sh', '-c', sh, 'sh', T, READALL], { capture: true });
      statusCheck(this.id, a, 'setup');
      if (a.timedOut) return noteTimeout(this.id, row);
      let j = null;
      try {
        j = JSON.parse(a.stdout);
      } catch {
        check(this.id, 'readall.py prints its summary', true, false, 'setup');
      }
      if (j)
        check(
          this.id,
          'bytes read = apparent bytes (every path once)',
          S.bytes_apparent,
          j.bytes,
          'setup',
        );
    },
  });

  return cmds;
}

/** mktree --verify (sha1 of every file) on the deduplicated copy: the content groups must be
 *  exactly the generator's, and no duplicate inode may be left. */
function verifyDeduped(id, dir, S, severity) {
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

// ------------------------------------------------------------------------------------------
// the rounds

async function runRounds(cmds, runs, treeName, limitS) {
  for (const c of cmds) {
    c.runs = [];
    c.warmup = null;
    c.cutOff = null; // the run that hit --timeout, if any
  }
  for (let round = 0; round <= runs; round++) {
    const warm = round === 0;
    log(`${treeName}: ${warm ? 'warm-up round' : `round ${round}/${runs}`}`);
    for (const c of cmds) {
      if (c.missing || c.cutOff) continue;
      const row = new Row(limitS);
      c.run(row, { warm, round });
      const m = row.result();
      if (m.timedOut) c.cutOff = { ...m, round };
      else if (warm) c.warmup = m;
      else c.runs.push(m);
      log(
        `  ${c.label.padEnd(44)} ${(m.timedOut ? '>' : '') + fmtS(m.wall).padStart(8)} s ` +
          `${fmtMiB(m.rssKiB).padStart(7)} MiB` +
          (m.status.some((s) => s !== 0) ? `  exit ${m.status.join(',')}` : ''),
      );
      await yieldToSignals();
    }
  }
  for (const c of cmds) {
    if (c.missing) {
      c.stats = null;
      continue;
    }
    const all = [c.warmup, ...c.runs, c.cutOff].filter(Boolean);
    const w = c.runs.map((m) => m.wall);
    const partNames = [...new Set(all.flatMap((m) => m.pieces.map((p) => p.name)))];
    c.stats = {
      median: c.cutOff ? NaN : median(w),
      min: c.cutOff ? NaN : Math.min(...w),
      max: c.cutOff ? NaN : Math.max(...w),
      // A row that was cut off took at least this long.
      lowerBound: c.cutOff ? c.cutOff.wall : null,
      cpuMedian: c.cutOff ? NaN : median(c.runs.map((m) => m.cpu)),
      rssMaxKiB: Math.max(...all.map((m) => m.rssKiB)),
      exits: [...new Set(all.flatMap((m) => m.status))],
      parts:
        partNames.length > 1 && !c.cutOff
          ? partNames.map((n) => ({
              name: n,
              median: median(c.runs.map((m) => m.pieces.find((p) => p.name === n)?.wall ?? NaN)),
            }))
          : [],
      notes: [...new Set(all.flatMap((m) => m.notes))],
    };
  }
}

async function runMillion(tree, runs, limitS) {
  const id = 'hashall-scan-1M';
  const db = path.join(WORK, 'million.db');
  const hx = { capture: true, env: hashallEnv() };
  const c = {
    id,
    group: 'hashall',
    label: 'hashall first scan (1M files)',
    shown: 'hashall scan T1M --catalog NEW.db',
    run(row, { warm }) {
      rmCatalog(db);
      const a = row.time(
        'scan',
        hashallArgv(['scan', tree.dir, '--catalog', db, '--json', '-q']),
        hx,
      );
      checkScan(id, a, tree);
      if (a.timedOut) return noteTimeout(id, row);
      if (warm) {
        log('  checking analyze on the 1M catalog (untimed) ...');
        const b = timed(
          'analyze (untimed)',
          hashallArgv(['conductor', 'analyze', '--catalog', db, '--json']),
          hx,
        );
        checkAnalyze(id, b, tree);
      }
      rmCatalog(db);
    },
  };
  await runRounds([c], runs, '1M-file tree', limitS);
  return c;
}

// ------------------------------------------------------------------------------------------
// machine description

function machineInfo(pyVersion, peerInfo, build) {
  const meminfo = fs.readFileSync('/proc/meminfo', 'utf8');
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? NaN);
  const df = run('df', ['--output=fstype,source', CACHE]).stdout.trim().split('\n')[1] ?? '';
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const git = run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']).stdout?.trim() || 'unknown';
  const dirty =
    (run('git', ['-C', REPO, 'status', '--porcelain', '--', 'src']).stdout ?? '').trim() !== '';
  const dpkg = (p) => run('dpkg-query', ['-W', '-f', '${Version}', p]).stdout?.trim() || '';
  const peers = {};
  for (const p of PEERS) {
    const i = peerInfo[p.bin];
    if (!i.path) {
      peers[p.bin] = `MISSING (${i.error})`;
      continue;
    }
    const v = run(i.path, p.version);
    const line = firstLine(v.stdout || v.stderr).replace(ANSI, '');
    const d = dpkg(p.pkg);
    peers[p.bin] =
      `${line}${d ? ` (dpkg ${d})` : ''}${i.installed ? ', installed by this run' : ''}`;
  }
  const timeV = dpkg('time');
  return {
    cpu: `${os.cpus()[0]?.model ?? 'unknown'}`,
    nproc: Number(run('nproc', []).stdout?.trim() || os.availableParallelism()),
    memory_gib: +(memKiB / 1024 / 1024).toFixed(1),
    kernel: run('uname', ['-srm']).stdout?.trim() || `${os.type()} ${os.release()}`,
    filesystem: df.trim().replace(/\s+/g, ' on '),
    load_average_at_end: os.loadavg().map((x) => +x.toFixed(2)),
    node: process.version,
    python: pyVersion,
    gnu_time: `${GNU_TIME}${timeV ? ` (dpkg ${timeV})` : ''}`,
    hashall:
      `${pkg.version}${build.version !== pkg.version ? ` (--version says ${build.version})` : ''}, git ${git}${dirty ? ' + uncommitted changes in src/' : ''}; ` +
      `dist/ snapshot taken at start: built ${build.builtAt}, sha256 ${build.digest}` +
      (build.changedDuringRun
        ? ' (dist/ was rebuilt during the run; the snapshot was measured)'
        : ''),
    peers,
  };
}

// ------------------------------------------------------------------------------------------
// targets and report

/** [lo, hi] of a row's median: exact, or [cut-off time, ∞) for a row that hit --timeout. */
function interval(c) {
  if (!c?.stats) return null;
  if (c.stats.lowerBound != null) return [c.stats.lowerBound, Infinity];
  return [c.stats.median, c.stats.median];
}

function computeTargets(cmds, million, quick) {
  const by = Object.fromEntries(cmds.map((c) => [c.id, c]));
  const ratio = (num, den, limit, id, what) => {
    const n = interval(by[num]);
    const d = interval(by[den]);
    const base = { id, what, formula: `median(${num}) / median(${den})`, limit: `≤ ${limit}` };
    if (!n || !d) {
      const miss = [num, den].filter((x) => !by[x]?.stats);
      return {
        ...base,
        value: null,
        shown: 'n/a',
        pass: null,
        note: `not measured: ${miss.join(', ')} missing`,
      };
    }
    const lo = n[0] / d[1];
    const hi = n[1] / d[0];
    const exact = lo === hi;
    const shown = exact
      ? lo.toFixed(3)
      : hi === Infinity
        ? `> ${lo.toFixed(1)}`
        : `< ${hi.toFixed(3)}`;
    const pass = hi <= limit ? true : lo > limit ? false : null;
    const note = exact
      ? ''
      : `bound only: ${[num, den].filter((x) => by[x].stats.lowerBound != null).join(', ')} hit --timeout`;
    return {
      ...base,
      value: exact ? lo : null,
      lower_bound: lo,
      upper_bound: hi === Infinity ? null : hi,
      shown,
      pass,
      note,
    };
  };
  const hashallRows = cmds.filter((c) => c.group === 'hashall' && c.stats);
  const worst = hashallRows.reduce(
    (a, c) => (!a || c.stats.rssMaxKiB > a.stats.rssMaxKiB ? c : a),
    null,
  );
  const rssBytes = worst ? worst.stats.rssMaxKiB * 1024 : NaN;
  const cutRows = hashallRows.filter((c) => c.stats.lowerBound != null).map((c) => c.id);
  const t = [
    ratio('hashall-first', 'jdupes', 0.8, 'T1', 'first scan + analyze vs jdupes -r -q'),
    ratio('hashall-rescan', 'jdupes', 0.3, 'T2a', 'rescan + analyze vs jdupes -r -q'),
    ratio('hashall-rescan', 'floor-find', 1.5, 'T2b', 'rescan + analyze vs find metadata floor'),
    ratio('hashall-hash-all', 'floor-read', 1.6, 'T3', 'scan --hash all vs read-everything floor'),
    ratio('hashall-dedupe', 'jdupes-L', 1.0, 'T4', 'plan + execute --force vs jdupes -r -L -q'),
    {
      id: 'T5a',
      what: `peak RSS of hashall on the ${quick ? 'quick (NOT the reference)' : 'reference'} tree`,
      formula: 'max peak RSS over the hashall rows, warm-up included',
      limit: '≤ 200 MB',
      value: rssBytes / MB,
      shown: worst
        ? `${(rssBytes / MB).toFixed(1)} MB (${fmtMiB(worst.stats.rssMaxKiB)} MiB, ${worst.id})`
        : 'n/a',
      pass: worst ? rssBytes <= RSS_LIMIT_REF : null,
      note: [
        quick ? 'quick tree: not the reference measurement' : '',
        cutRows.length ? `${cutRows.join(', ')} cut off by --timeout (RSS up to the cut)` : '',
      ]
        .filter(Boolean)
        .join('; '),
    },
  ];
  const t5b = {
    id: 'T5b',
    what: 'peak RSS of hashall scanning 1,000,000 files',
    formula: 'max peak RSS of hashall scan on the 1M tree',
    limit: '≤ 512 MB',
  };
  if (million?.stats) {
    const b = million.stats.rssMaxKiB * 1024;
    t.push({
      ...t5b,
      value: b / MB,
      shown: `${(b / MB).toFixed(1)} MB (${fmtMiB(million.stats.rssMaxKiB)} MiB)`,
      pass: b > RSS_LIMIT_MILLION ? false : million.stats.lowerBound != null ? null : true,
      note: million.stats.lowerBound != null ? 'scan cut off by --timeout (RSS up to the cut)' : '',
    });
  } else {
    t.push({
      ...t5b,
      value: null,
      shown: 'n/a',
      pass: null,
      note: 'not measured: run with --million',
    });
  }
  return t;
}

const verdict = (pass) =>
  pass === true ? '**PASS**' : pass === false ? '**FAIL**' : 'not measured';

function timingRows(cmds) {
  const rows = [];
  for (const c of cmds) {
    if (c.missing) {
      rows.push(
        `| ${mdCell(c.label)} | ${mdCode(c.shown)} | **MISSING** | | | | | ${mdCell(c.missing)} |`,
      );
      continue;
    }
    const s = c.stats;
    const exits = s.exits.every((e) => e === 0) ? '0' : `**${s.exits.join(', ')}**`;
    const parts = s.parts.map((p) => `${p.name} ${fmtS(p.median)}`).join(' + ');
    if (s.lowerBound != null) {
      rows.push(
        `| ${mdCell(c.label)} | ${mdCode(c.shown)} | **> ${fmtS(s.lowerBound)}** (cut off) | | | ` +
          `${fmtMiB(s.rssMaxKiB)} | ${exits} | ${mdCell(s.notes.join('; '))} |`,
      );
      continue;
    }
    rows.push(
      `| ${mdCell(c.label)} | ${mdCode(c.shown)} | ${fmtS(s.median)} | ${fmtS(s.min)}–${fmtS(s.max)} | ` +
        `${fmtS(s.cpuMedian)} | ${fmtMiB(s.rssMaxKiB)} | ${exits} | ${mdCell(parts)} |`,
    );
  }
  return rows;
}

function checkRows() {
  const rows = [];
  for (const c of checks.values()) {
    const res =
      c.failures === 0
        ? 'ok'
        : c.severity === 'info'
          ? 'differs (info)'
          : c.severity === 'peer'
            ? '**MISMATCH (peer)**'
            : '**MISMATCH**';
    rows.push(
      `| ${mdCell(c.command)} | ${mdCell(c.what)} | ${mdCell(fmtInt(c.expected))} | ` +
        `${mdCell(c.observed.map(fmtInt).join(' / '))} | ${c.failures ? `${c.failures}/${c.runs}` : c.runs} | ${res} |`,
    );
  }
  return rows;
}

function problems() {
  const out = [];
  for (const c of checks.values()) {
    if (c.failures === 0 || c.severity === 'info') continue;
    out.push({
      severity: c.severity,
      text:
        `${c.command}: ${c.what}: expected ${fmtInt(c.expected)}, got ` +
        `${c.observed.map(fmtInt).join(' / ')} (${c.failures} of ${c.runs} runs)`,
    });
  }
  return out;
}

function treeRow(tree) {
  const S = tree.summary;
  return (
    `| ${tree.spec.name} | ${mdCode(`mktree.py DIR ${tree.args.join(' ')}`)} | ${fmtInt(S.regular_file_paths)} | ` +
    `${fmtInt(S.distinct_inodes)} | ${fmtInt(S.bytes_distinct_inodes)} | ${fmtInt(S.dup_groups_by_inode)} | ` +
    `${fmtInt(S.hardlink_dedupe_saving_bytes)} |`
  );
}

const TIMING_HEAD = [
  '| row | command | median s | min–max s | CPU s | peak RSS MiB | exit | parts (median s) / notes |',
  '|---|---|---:|---:|---:|---:|---|---|',
];

function renderMarkdown(r) {
  const L = [];
  L.push('# hashall benchmark results', '');
  L.push(
    `Generated by \`node bench/run.mjs${r.argv.length ? ' ' + r.argv.join(' ') : ''}\` on ${r.date} ` +
      `(total ${(r.elapsed_s / 60).toFixed(1)} min). Warm page cache; ${r.runs} timed run(s) per command ` +
      'after one warm-up, interleaved across commands (A B C … A B C …); --timeout ' +
      `${r.timeout} s per row. How to read it: \`bench/README.md\`.`,
    '',
  );
  if (r.copyStats.copies)
    L.push(
      `Untimed setup: ${r.copyStats.copies} fresh copies of T (\`cp -a\` + \`sync\`) took ` +
        `${r.copyStats.seconds.toFixed(1)} s; deleting them at the end took ${r.copyStats.deleteSeconds.toFixed(1)} s.`,
      '',
    );
  const busy = r.machine.load_average_at_start[0];
  if (busy >= 0.5 * r.machine.nproc)
    L.push(
      `> **Busy machine:** the 1-minute load average was ${busy} on ${r.machine.nproc} CPUs when the run ` +
        'started, so other processes competed for the CPUs: absolute times are inflated and noisier, ' +
        'ratios less so (all rows shared the same conditions, interleaved).',
      '',
    );
  if (r.quick)
    L.push(
      '> **Quick smoke run** on a small tree: the ratios are not the design-target measurement.',
      '',
    );
  const bad = r.problems.filter((p) => p.severity !== 'peer');
  const peerBad = r.problems.filter((p) => p.severity === 'peer');
  if (bad.length) {
    L.push('## ⚠ MISMATCHES (hashall or benchmark setup)', '');
    for (const p of bad) L.push(`- **${p.severity}**: ${mdCell(p.text)}`);
    L.push('');
  }
  if (r.timeouts.length) {
    L.push('## ⚠ Cut off by --timeout', '');
    for (const t of [...new Set(r.timeouts)]) L.push(`- ${t}`);
    L.push('');
  }
  if (r.missing.length) {
    L.push('## ⚠ Missing peers', '');
    for (const m of r.missing) L.push(`- ${mdCell(m)}`);
    L.push('');
  }
  L.push('## Machine', '', '| | |', '|---|---|');
  const m = r.machine;
  L.push(
    `| CPU | ${mdCell(m.cpu)} |`,
    `| nproc | ${m.nproc} |`,
    `| memory | ${m.memory_gib} GiB |`,
  );
  L.push(
    `| kernel | ${mdCell(m.kernel)} |`,
    `| filesystem (bench/.cache) | ${mdCell(m.filesystem)} |`,
  );
  L.push(
    `| load average (1/5/15 min) at start; at end | ${m.load_average_at_start.join(' / ')}; ${m.load_average_at_end.join(' / ')} |`,
  );
  L.push(
    `| node | ${m.node} |`,
    `| python3 | ${mdCell(m.python)} |`,
    `| GNU time | ${mdCell(m.gnu_time)} |`,
  );
  L.push(`| hashall | ${mdCell(m.hashall)} |`);
  for (const [k, v] of Object.entries(m.peers)) L.push(`| ${k} | ${mdCell(v)} |`);
  L.push('');
  L.push('## Trees', '');
  L.push(
    '| tree | generator | regular paths | distinct inodes | bytes on distinct inodes | dup groups by inode | hardlink_dedupe_saving_bytes |',
    '|---|---|---:|---:|---:|---:|---:|',
  );
  for (const t of r.treesUsed) L.push(treeRow(t));
  L.push('');
  L.push(
    `## Timings: ${r.tree.spec.name} tree (T = ${mdCode(path.relative(REPO, r.tree.dir))})`,
    '',
  );
  L.push(
    'Wall seconds. CPU = user + system seconds (median). Peak RSS = the largest over all runs, warm-up included ' +
      '(for a two-command row, the larger of the two processes). COPY = a fresh `cp -a` of T, made and scanned untimed.',
    '',
  );
  L.push(...TIMING_HEAD, ...timingRows(r.cmds));
  if (r.million) {
    L.push(
      '',
      `### 1,000,000-file tree (T1M = ${mdCode(path.relative(REPO, r.millionTree.dir))})`,
      '',
    );
    L.push(...TIMING_HEAD, ...timingRows([r.million]));
  }
  L.push('');
  L.push('## Targets (DESIGN.md §6)', '');
  L.push('| # | what | ratio / value | target | result | note |', '|---|---|---:|---|---|---|');
  for (const t of r.targets)
    L.push(
      `| ${t.id} | ${mdCell(t.what)} | ${mdCell(t.shown)} | ${t.limit} | ${verdict(t.pass)} | ${mdCell(t.note)} |`,
    );
  L.push('');
  L.push('## Correctness checks', '');
  L.push(
    'Every check ran on every run, warm-up included, unless that run was cut off by --timeout; "runs" = how many ' +
      'times (failures/runs on a mismatch). Expected figures come from the generator summary and from ' +
      '`find -printf "%i %s"` before/after.',
    '',
  );
  L.push('| row | check | expected | measured | runs | result |', '|---|---|---:|---:|---:|---|');
  L.push(...checkRows());
  if (peerBad.length) {
    L.push(
      '',
      'Peer figures that differ from the generator (reported, not a hashall failure):',
      '',
    );
    for (const p of peerBad) L.push(`- ${mdCell(p.text)}`);
  }
  L.push('');
  return L.join('\n');
}

async function writeJson(file, data) {
  let text = JSON.stringify(data, null, 2) + '\n';
  try {
    // Keep the committed file in the repository's prettier style when prettier is installed.
    const prettier = await import('prettier');
    const cfg = (await prettier.resolveConfig(file)) ?? {};
    text = await prettier.format(text, { ...cfg, filepath: file });
  } catch {
    // prettier not available: plain JSON is fine
  }
  fs.writeFileSync(file, text);
}

function cmdJson(c) {
  const run1 = (m) => ({
    wall_s: m.wall,
    cpu_s: m.cpu,
    rss_kib: m.rssKiB,
    exit: m.status,
    pieces: m.pieces.map((p) => ({
      name: p.name,
      wall_s: p.wall,
      cpu_s: p.cpu,
      rss_kib: p.rssKiB,
    })),
  });
  const num = (x) => (Number.isFinite(x) ? x : null);
  return {
    id: c.id,
    group: c.group,
    label: c.label,
    command: c.shown,
    missing: c.missing ?? null,
    median_s: num(c.stats?.median),
    min_s: num(c.stats?.min),
    max_s: num(c.stats?.max),
    cut_off_after_s: c.stats?.lowerBound ?? null,
    cpu_median_s: num(c.stats?.cpuMedian),
    peak_rss_kib: c.stats?.rssMaxKiB ?? null,
    exit_codes: c.stats?.exits ?? null,
    parts_median_s: Object.fromEntries((c.stats?.parts ?? []).map((p) => [p.name, p.median])),
    notes: c.stats?.notes ?? [],
    warmup: c.warmup ? run1(c.warmup) : null,
    runs: (c.runs ?? []).map(run1),
    cut_off_run: c.cutOff ? { round: c.cutOff.round, ...run1(c.cutOff) } : null,
  };
}

function treeJson(t) {
  const flat = Object.entries(t.summary).filter(([, v]) => typeof v !== 'object');
  return {
    name: t.spec.name,
    dir: path.relative(REPO, t.dir),
    mktree_args: t.args,
    summary: Object.fromEntries(flat),
  };
}

// ------------------------------------------------------------------------------------------
// main

function cleanup() {
  try {
    rmrf(WORK);
  } catch (e) {
    process.stderr.write(`bench: could not remove ${WORK}: ${e.message}\n`);
  }
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
  devNull = fs.openSync('/dev/null', 'w');
  const build = snapshotDist();
  log(`measuring hashall ${build.version}, dist/ sha256 ${build.digest} (snapshot)`);

  const peerInfo = {};
  for (const p of PEERS) peerInfo[p.bin] = ensureTool(p.bin, p.pkg);
  const missing = PEERS.filter((p) => !peerInfo[p.bin].path).map(
    (p) => `${p.bin}: ${peerInfo[p.bin].error}`,
  );
  for (const m of missing) log(`WARNING: peer ${m}; it is reported as missing`);

  const tree = ensureTree(opts.quick ? TREE_SPECS.quick : TREE_SPECS.reference);
  const cmds = buildCommands(tree, peerInfo);
  await runRounds(cmds, opts.runs, `${tree.spec.name} tree`, opts.timeout);

  let million = null;
  let millionTree = null;
  if (opts.million) {
    millionTree = ensureTree(TREE_SPECS.million);
    // One timed run after the warm-up: each is minutes long, and the row is about peak RSS.
    million = await runMillion(millionTree, 1, opts.timeout * MILLION_TIMEOUT_FACTOR);
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
  const targets = computeTargets(cmds, million, opts.quick);
  const probs = problems();
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
    million,
    millionTree,
    targets,
    problems: probs,
    timeouts,
    missing,
    copyStats,
  };

  const outMd = opts.quick
    ? path.join(CACHE, 'quick-RESULTS.md')
    : path.join(BENCH_DIR, 'RESULTS.md');
  const outJson = opts.quick
    ? path.join(CACHE, 'quick-results.json')
    : path.join(BENCH_DIR, 'results.json');
  fs.writeFileSync(outMd, renderMarkdown(result));
  await writeJson(outJson, {
    date: result.date,
    argv,
    quick: opts.quick,
    runs: opts.runs,
    timeout_s: opts.timeout,
    elapsed_s: result.elapsed_s,
    untimed_copies: {
      count: copyStats.copies,
      copy_and_sync_s: copyStats.seconds,
      delete_and_sync_s: copyStats.deleteSeconds,
    },
    machine: result.machine,
    trees: result.treesUsed.map(treeJson),
    commands: cmds.map(cmdJson),
    million: million ? cmdJson(million) : null,
    targets,
    checks: [...checks.values()],
    problems: probs,
    timeouts: [...new Set(timeouts)],
    missing_peers: missing,
  });

  // Console summary.
  process.stdout.write('\n');
  for (const t of targets) {
    const v = t.pass === true ? 'PASS' : t.pass === false ? 'FAIL' : 'n/a';
    process.stdout.write(
      `${t.id.padEnd(4)} ${t.what.padEnd(50)} ${t.shown.padStart(10)}  ${t.limit.padEnd(9)} ${v}` +
        `${t.note ? `  (${t.note})` : ''}\n`,
    );
  }
  const bad = probs.filter((p) => p.severity === 'hashall' || p.severity === 'setup');
  for (const p of probs)
    process.stdout.write(`${p.severity === 'peer' ? 'peer mismatch' : 'MISMATCH'}: ${p.text}\n`);
  for (const t of new Set(timeouts)) process.stdout.write(`CUT OFF: ${t}\n`);
  for (const m of missing) process.stdout.write(`MISSING PEER: ${m}\n`);
  process.stdout.write(
    `\nwrote ${path.relative(process.cwd(), outMd)} and ${path.relative(process.cwd(), outJson)}\n`,
  );
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
