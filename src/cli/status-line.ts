/**
 * One line of progress redrawn in place on a terminal (stderr). Anything else printed while it
 * is drawn goes through `above` (or the line is cleared first): the line is wiped, the text
 * printed, the line drawn again below it, so the two never mix on one line.
 */
import { setDebugSink } from '../debug-note.js';
import { setLineClearer } from './signals.js';

/** Redraws at most this often: a terminal need not show more, and it costs the work time. */
const REDRAW_MS = 100;

export class StatusLine {
  private text = '';
  private shown = false;
  private lastDraw = 0;

  constructor(private readonly out: NodeJS.WriteStream) {
    setLineClearer(() => this.clear());
    // A --debug line from below (a fallback the catalog took) goes above the line, not into it.
    setDebugSink((line) => this.above(process.stderr, line));
  }

  /** True when a redraw is due (callers skip building the text otherwise). */
  due(): boolean {
    return Date.now() - this.lastDraw >= REDRAW_MS;
  }

  draw(text: string): void {
    this.text = text;
    this.lastDraw = Date.now();
    // Wider than the terminal would wrap, and '\r' would then redraw only the last row.
    const width = Math.max(20, (this.out.columns || 80) - 1);
    const fitted = [...text].length > width ? [...text].slice(0, width - 1).join('') + '…' : text;
    this.out.write(`\r${fitted}\x1b[K`);
    this.shown = true;
  }

  /** Wipe the line (the cursor stays at its start). */
  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }

  /** Print `text` (whole lines) on `stream` above the line. */
  above(stream: NodeJS.WriteStream, text: string): void {
    const was = this.shown;
    this.clear();
    stream.write(text);
    if (was) this.draw(this.text);
  }

  /** Wipe the line for good: what is printed next starts on a clean line. */
  stop(): void {
    this.clear();
    setLineClearer(undefined);
    setDebugSink(undefined);
  }
}

/** A bar of `width` cells for a fraction in [0, 1]. */
export function bar(fraction: number, width = 20): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.floor(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

/** Whole percent, never past 100 (and 100 only when done). */
export function percent(done: number, total: number): string {
  if (total <= 0) return '  0%';
  const p = done >= total ? 100 : Math.min(99, Math.floor((done / total) * 100));
  return `${String(p).padStart(3)}%`;
}

/** 0:42, 12:05, 1:02:03 */
export function clock(ms: number): string {
  const t = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * Time left at the rate so far, or undefined while that means nothing: too early (under 3 s
 * or 1 % of the work) for a rate to hold.
 */
export function eta(done: number, total: number, elapsedMs: number): string | undefined {
  if (elapsedMs < 3000 || total <= 0 || done < total / 100 || done >= total) return undefined;
  return clock(((total - done) / done) * elapsedMs);
}
