/**
 * The catalog's own files (`Catalog.ownFiles`) as the walk meets them: the directory they are
 * in, by identity (a symlink or bind mount to it names the same directory), and their names. A
 * scan skips them: they change while it runs, and a plan must never offer to replace the live
 * catalog with a link to a copy of it (a backup made beside it, byte for byte the same).
 */
import { statSync } from 'node:fs';
import type { OwnFiles } from '../catalog/port.js';
import { byteKey } from '../paths.js';

export interface OwnFilesHere {
  readonly stDev: bigint;
  readonly ino: bigint;
  /** byteKey of each name. */
  readonly names: ReadonlySet<string>;
}

export function ownFilesHere(own: OwnFiles | undefined): OwnFilesHere | undefined {
  if (!own) return undefined;
  try {
    // stat, not lstat: the walk meets the directory a symlinked catalog folder points to.
    const st = statSync(own.dir, { bigint: true });
    if (!st.isDirectory()) return undefined;
    return {
      stDev: st.dev,
      ino: st.ino,
      names: new Set(own.names.map((n) => byteKey(Buffer.from(n)))),
    };
  } catch {
    return undefined;
  }
}
