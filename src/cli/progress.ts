/** Progress on stderr, only when stderr is a terminal and the user did not ask for quiet. */
import cliProgress from 'cli-progress';
import type { ScanProgress } from '../scan/scanner.js';
import { formatBytes, formatCount } from './format.js';

export interface ProgressView {
  update(p: ScanProgress): void;
  stop(): void;
}

const NONE: ProgressView = { update() {}, stop() {} };

export function scanProgress(enabled: boolean): ProgressView {
  if (!enabled || !process.stderr.isTTY) return NONE;
  let bar: cliProgress.SingleBar | undefined;
  let phase: ScanProgress['phase'] | undefined;
  const started = Date.now();
  return {
    update(p) {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: true,
            format:
              p.phase === 'walk'
                ? 'walking  {files} files in {dirs} directories, {hashed} hashed'
                : 'hashing  [{bar}] {percentage}% | {done}/{total} files | {bytes} | {rate}/s | ETA {eta_formatted}',
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(
          p.phase === 'walk' ? 1 : Math.max(1, p.hashTotalBytes || p.hashTotalFiles),
          0,
          payload(p),
        );
      }
      const value = p.phase === 'walk' ? 0 : p.hashTotalBytes ? p.hashedBytes : p.hashedFiles;
      bar!.update(value, payload(p));
    },
    stop() {
      bar?.stop();
    },
  };
  function payload(p: ScanProgress): Record<string, string> {
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    return {
      files: formatCount(p.files),
      hashed: formatCount(p.walkHashed),
      dirs: formatCount(p.dirs),
      done: formatCount(p.hashedFiles),
      total: formatCount(p.hashTotalFiles),
      bytes: formatBytes(p.hashedBytes),
      rate: formatBytes(Math.round(p.hashedBytes / secs)),
    };
  }
}
