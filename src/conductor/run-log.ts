/**
 * The log of an executor run (execute, undo, auto-execute): `DIR/NAME[TAG]-STAMP.log`, where
 * the catalog says DIR and TAG (`Catalog.runLogs`: for a catalog file, `logs/` beside it and a
 * tag that keeps catalogs sharing that directory apart). Two runs in the same second never
 * share a file either: the file is created exclusively, with `-2`, `-3`, … if needed.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../catalog/port.js';
import { errnoCode } from '../errors.js';

/** Create the log file (0600, in a 0700 `logs/`); returns its path and open fd. */
function createLogFile({ dir, tag }: RunLogPlace, name: string): { path: string; fd: number } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const base = join(dir, `${name}${tag}-${stamp}`);
  for (let n = 1; ; n++) {
    const path = n === 1 ? `${base}.log` : `${base}-${n}.log`;
    try {
      return { path, fd: openSync(path, 'wx', 0o600) };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST' || n >= 1000) throw err;
    }
  }
}

type RunLogPlace = Catalog['runLogs'];

export interface RunLog {
  readonly path: string;
  write(line: string): void;
  close(): void;
}

/** Buffered log text written out at this size at the latest. */
const LOG_FLUSH_BYTES = 64 * 1024;

/**
 * A log file in the catalog's log directory (0700 directory, 0600 file). Lines are buffered and
 * written on the next turn of the event loop (an executor yields at least every 50 ms), at
 * 64 KiB, on close and at exit: one write per burst of action reports, not one per action.
 */
export function openLog({
  place,
  name,
}: {
  readonly place: RunLogPlace;
  /** `conductor-plan-7`: the catalog's tag and a time stamp are added. */
  readonly name: string;
}): RunLog {
  const { path, fd } = createLogFile(place, name);
  let buf: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (buf.length === 0) return;
    const text = buf.join('');
    buf = [];
    bytes = 0;
    writeSync(fd, text);
  };
  // A second Ctrl-C exits at once: what is buffered is still written.
  process.on('exit', flush);
  return {
    path,
    write: (line) => {
      const text = `${new Date().toISOString()} ${line}\n`;
      buf.push(text);
      bytes += text.length;
      if (bytes >= LOG_FLUSH_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close: () => {
      process.off('exit', flush);
      flush();
      closeSync(fd);
    },
  };
}
