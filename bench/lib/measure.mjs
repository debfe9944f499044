// Measuring: one command under GNU time (wall, peak RSS, CPU), rows that share a --timeout
// budget, interleaved rounds after a warm-up, and the medians over the timed rounds.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { GNU_TIME, WORK } from './config.mjs';
import { Interrupted, fmtMiB, fmtS, interruptedBy, log, median, yieldToSignals } from './util.mjs';

let devNull = -1;

/** Open /dev/null once for the children's stdout (after the scratch directory exists). */
export function openDevNull() {
  devNull = fs.openSync('/dev/null', 'w');
}

/**
 * Run argv under GNU time (inside coreutils timeout when timeoutS is given). Wall clock comes
 * from process.hrtime around the child (ns resolution; time's own %e only has 10 ms); peak RSS
 * is %M (KiB; wait4 semantics: the largest process of the tree); CPU is %U + %S.
 */
export function timed(name, argv, { cwd = WORK, capture = false, env, timeoutS } = {}) {
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
export class Row {
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

/** Medians, ranges and maxima of one row over its runs (c.stats). */
function rowStats(c) {
  const all = [c.warmup, ...c.runs, c.cutOff].filter(Boolean);
  const w = c.runs.map((m) => m.wall);
  const partNames = [...new Set(all.flatMap((m) => m.pieces.map((p) => p.name)))];
  return {
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

/**
 * One warm-up round, then `runs` timed rounds; within a round the rows run in turn
 * (A B C … A B C …). A row that is missing, or was cut off by --timeout, is not run again.
 */
export async function runRounds(cmds, runs, treeName, limitS) {
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
  for (const c of cmds) c.stats = c.missing ? null : rowStats(c);
}
