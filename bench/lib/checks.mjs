// Correctness checks: every figure compared with what it should be, collected for the report.

import { firstLine, fmtInt, log } from './util.mjs';

/** Every check made in this run, keyed by row id and what was checked. */
export const checks = new Map();
/** One line per row run that hit --timeout. */
export const timeouts = [];

/** severity: 'hashall' (wrong figure => exit 1), 'setup' (benchmark invalid => exit 1),
 *  'peer' (reported only), 'info' (reported only, no target). */
export function check(cmdId, what, expected, actual, severity) {
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

/** The piece's stdout as JSON, or null (a check failure unless the piece was cut off). */
export function parseJson(cmdId, piece, severity = 'hashall') {
  try {
    return JSON.parse(piece.stdout);
  } catch {
    if (!piece.timedOut) check(cmdId, `${piece.name} prints valid JSON`, true, false, severity);
    const err = firstLine(piece.stderr);
    if (err) log(`  [${cmdId}] ${piece.name} stderr: ${err}`);
    return null;
  }
}

export function statusCheck(id, piece, severity) {
  if (piece.timedOut) return;
  check(id, `${piece.name} exits 0`, 0, piece.status, severity);
  if (piece.status !== 0) {
    const msg = firstLine(piece.stderr) || piece.note;
    if (msg) log(`  [${id}] ${piece.name} exit ${piece.status}: ${msg}`);
  }
}

export function noteTimeout(id, row, progress) {
  const p = row.pieces.find((x) => x.timedOut);
  const text =
    `${id}: \`${p?.name}\` did not finish within --timeout ${row.limitS} s` +
    `${progress ? ` (${progress})` : ''}; its figures were not verified in that run`;
  row.notes.push(text);
  timeouts.push(text);
}

/**
 * The rows that time one command and check only its exit status: a timed piece, its status
 * check, and a note when it hit --timeout. Returns the piece, or null when it was cut off.
 */
export function timeChecked(row, id, { name, argv, opts = {}, severity }) {
  const a = row.time(name, argv, opts);
  statusCheck(id, a, severity);
  if (!a.timedOut) return a;
  noteTimeout(id, row);
  return null;
}

/** The failed checks that matter (all but 'info'), one line each. */
export function problems() {
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
