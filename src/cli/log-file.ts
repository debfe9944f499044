/**
 * Where an execution log goes: `<catalog dir>/logs/NAME[-TAG]-STAMP.log`. Several catalogs may
 * share a directory (and so `logs/`): TAG, a short hash of the catalog's path, keeps their
 * logs apart (the default catalog's logs keep the plain name). Two runs in the same second
 * never share a file either: the file is created exclusively, with `-2`, `-3`, … if needed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultCatalogPath } from '../catalog/open.js';
import { errnoCode } from '../errors.js';

/** `-1a2b3c4d` for a catalog other than the default one, else ''. */
export function catalogTag(catalogPath: string): string {
  if (catalogPath === defaultCatalogPath()) return '';
  return `-${createHash('sha256').update(catalogPath).digest('hex').slice(0, 8)}`;
}

/** Create the log file (0600, in a 0700 `logs/`); returns its path and open fd. */
export function createLogFile(catalogPath: string, name: string): { path: string; fd: number } {
  const dir = join(dirname(catalogPath), 'logs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const base = join(dir, `${name}${catalogTag(catalogPath)}-${stamp}`);
  for (let n = 1; ; n++) {
    const path = n === 1 ? `${base}.log` : `${base}-${n}.log`;
    try {
      return { path, fd: openSync(path, 'wx', 0o600) };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST' || n >= 1000) throw err;
    }
  }
}
