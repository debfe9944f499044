// Small helpers: logging, untimed child processes, files, numbers and Markdown formatting.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { setImmediate } from 'node:timers';

export class Interrupted extends Error {}

export const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

export function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

export function fatal(msg, code = 2) {
  process.stderr.write(`\nbench: error: ${msg}\n`);
  process.exit(code);
}

export function interruptedBy(r) {
  return ['SIGINT', 'SIGTERM', 'SIGHUP'].includes(r.signal ?? '') || r.status === 130;
}

/** Run a command untimed; returns the spawnSync result (stdout/stderr as strings). */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
  if (interruptedBy(r)) throw new Interrupted(`${cmd} was interrupted`);
  return r;
}

export function firstLine(s) {
  return (s ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
}

/** The executable named bin on PATH, or in one of the extra directories; null if none. */
export function which(bin, extraDirs = []) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extraDirs]) {
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

export function rmrf(p) {
  fs.rmSync(p, { recursive: true, force: true });
}

export function rmCatalog(db) {
  for (const s of ['', '-wal', '-shm', '-journal']) fs.rmSync(db + s, { force: true });
}

export function syncDisks() {
  run('sync', []);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export const yieldToSignals = () => new Promise((r) => setImmediate(r));
export const fmtS = (x) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
export const fmtMiB = (kib) => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : 'n/a');
export const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n));
export const mdCode = (s) => '`' + String(s).replaceAll('|', '\\|') + '`';
export const mdCell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');
