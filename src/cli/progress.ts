/**
 * Progress of a scan and of an execute: one line on stderr, only on a terminal (stdout and
 * stderr both) and when the user did not ask for quiet.
 */
import type { ScanProgress } from '../scan/scanner.js';
import { countOf, formatBytes, formatCount } from '../format.js';
import { StatusLine, bar, clock, eta, percent } from './status-line.js';

/** Whether progress is drawn: both streams are a terminal (a redirected stdout gets none). */
export function progressWanted(quiet: boolean | undefined): boolean {
  return !quiet && process.stderr.isTTY === true && process.stdout.isTTY === true;
}

export interface ProgressView {
  update(p: ScanProgress): void;
  stop(): void;
}

const NONE: ProgressView = { update() {}, stop() {} };

const rate = (bytes: number, ms: number) =>
  `${formatBytes(Math.round(bytes / Math.max(0.001, ms / 1000)))}/s`;

/** The walk's line, then the hashing bar of the stages after the walk. */
export function scanProgress(enabled: boolean): ProgressView {
  if (!enabled) return NONE;
  const line = new StatusLine(process.stderr);
  const started = Date.now();
  let hashStarted = 0;
  let stage: ScanProgress['stage'];
  let stageStarted = 0;
  /** Jobs finished before the running stage started (all of the earlier stages'). */
  let stageBaseDone = 0;
  return {
    update(p) {
      const now = Date.now();
      let changed = false;
      if (p.phase === 'hash' && hashStarted === 0) {
        hashStarted = now;
        changed = true;
      }
      if (p.stage !== stage) {
        stage = p.stage;
        stageStarted = now;
        stageBaseDone = p.hashDoneFiles;
        changed = true;
      }
      // A new phase or stage is drawn at once: its total is news, however soon it came.
      if (!changed && !line.due()) return;
      line.draw(p.phase === 'walk' ? walkText(p, now - started) : hashText(p, now));
    },
    stop() {
      line.stop();
    },
  };

  function walkText(p: ScanProgress, ms: number): string {
    return [
      `walking  ${countOf(p.files, 'file')} in ${countOf(p.dirs, 'directory')}`,
      `hashed ${countOf(p.walkHashed, 'file')}, ${formatBytes(p.walkHashedBytes)}, ${rate(p.walkHashedBytes, ms)}`,
      clock(ms),
    ].join(' | ');
  }

  function hashText(p: ScanProgress, now: number): string {
    // The count is of the stages started so far: its total grows when the full-hash stage
    // starts, and done never passes it (every job finished counts once, hashed or not). The
    // bar is the running stage's: by files for prefixes (a seek each), by bytes for the full
    // hash (where the time goes), so one large file last does not sit at 99 % for minutes.
    const done = Math.min(p.hashDoneFiles, p.hashTotalFiles);
    const stageFiles = Math.max(0, p.hashTotalFiles - stageBaseDone);
    const stageDone = Math.max(0, done - stageBaseDone);
    const byBytes = p.stageBytes > 0;
    const bytesDone = Math.min(p.stageBytesDone, p.stageBytes);
    const pct = byBytes
      ? stageDone >= stageFiles
        ? percent(1, 1)
        : percent(Math.min(bytesDone, p.stageBytes - 1), p.stageBytes)
      : percent(stageDone, stageFiles);
    const fraction = byBytes ? bytesDone / p.stageBytes : stageDone / Math.max(1, stageFiles);
    const parts = [
      `${p.stage === 'prefix' ? 'hashing prefixes' : 'hashing'}  ${bar(fraction)} ${pct}`,
      `${formatCount(done)}/${countOf(p.hashTotalFiles, 'file')}`,
      byBytes
        ? `${formatBytes(bytesDone)} of ${formatBytes(p.stageBytes)}, ${rate(bytesDone, now - stageStarted)}`
        : `${formatBytes(p.hashedBytes)}, ${rate(p.hashedBytes, now - hashStarted)}`,
      clock(now - started),
    ];
    // Only the last stage's time left means something: an earlier one is followed by more.
    const left =
      p.laterStages || !byBytes ? undefined : eta(bytesDone, p.stageBytes, now - stageStarted);
    if (left) parts.push(`ETA ${left}`);
    return parts.join(' | ');
  }
}

/** The work of an execute: its actions, and the bytes its HARDLINK (REFLINK) actions save. */
export interface RunWork {
  readonly actions: number;
  readonly bytes: number;
}

export interface RunProgressView {
  /** One more HARDLINK (REFLINK) action checked; `bytes`: what it saves. */
  action(bytes: number): void;
  /** Print whole lines on `stream` above the bar. */
  print(stream: NodeJS.WriteStream, text: string): void;
  stop(): void;
}

/** The bar of an execute (or a dry run): actions, bytes, rate, elapsed time, ETA. */
export function runProgress(
  enabled: boolean,
  work: RunWork,
  verb: 'executing' | 'checking',
): RunProgressView {
  if (!enabled) {
    return { action() {}, print: (stream, text) => void stream.write(text), stop() {} };
  }
  const line = new StatusLine(process.stderr);
  const started = Date.now();
  let actions = 0;
  let bytes = 0;
  const draw = () => {
    const ms = Date.now() - started;
    const done = Math.min(actions, work.actions);
    const parts = [
      `${verb}  ${bar(done / Math.max(1, work.actions))} ${percent(done, work.actions)}`,
      `${formatCount(done)}/${countOf(work.actions, 'action')}`,
      `${formatBytes(Math.min(bytes, work.bytes))} of ${formatBytes(work.bytes)}, ${rate(bytes, ms)}`,
      clock(ms),
    ];
    const left = eta(done, work.actions, ms);
    if (left) parts.push(`ETA ${left}`);
    line.draw(parts.join(' | '));
  };
  draw();
  return {
    action(b) {
      actions++;
      bytes += b;
      if (line.due()) draw();
    },
    print: (stream, text) => line.above(stream, text),
    stop: () => line.stop(),
  };
}
