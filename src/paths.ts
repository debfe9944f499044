/**
 * Linux file names are byte strings. Every path read from disk stays a Buffer from the
 * moment readdir returns it to the moment it is stored as a BLOB; strings appear only for
 * display and JSON.
 */
import { isUtf8 } from 'node:buffer';

const SLASH = 0x2f;
export const ROOT_PATH = Buffer.from('/');

/** Join an absolute or fs-relative directory path ('/'-rooted) with one name. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 1 && dir[0] === SLASH) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, ROOT_PATH, name]);
}

/** True when `path` equals `prefix` or lies below it (byte comparison, never a pattern). */
export function isUnder(path: Buffer, prefix: Buffer): boolean {
  if (prefix.length === 1 && prefix[0] === SLASH) return path.length > 0 && path[0] === SLASH;
  if (path.length < prefix.length) return false;
  if (path.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return false;
  return path.length === prefix.length || path[prefix.length] === SLASH;
}

/** The part of `path` below `prefix` ('/'-led), or '/' when they are equal. */
export function relativeTo(path: Buffer, prefix: Buffer): Buffer {
  if (prefix.length === 1 && prefix[0] === SLASH) return path;
  if (path.length === prefix.length) return ROOT_PATH;
  return path.subarray(prefix.length);
}

/** Re-root: `rest` ('/'-led, or '/') placed under `base`. */
export function rebase(base: Buffer, rest: Buffer): Buffer {
  if (base.length === 1 && base[0] === SLASH) return rest;
  if (rest.length === 1 && rest[0] === SLASH) return base;
  return Buffer.concat([base, rest]);
}

export function parentOf(path: Buffer): Buffer {
  const i = path.lastIndexOf(SLASH);
  if (i <= 0) return ROOT_PATH;
  return path.subarray(0, i);
}

export function baseName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(SLASH) + 1);
}

/** A lossless, 1:1 string form of bytes, for use as Map keys only. */
export function byteKey(b: Buffer): string {
  return b.toString('latin1');
}

/**
 * The HTML report's form of a path (the command line prints names with src/display-path.ts,
 * which keeps different names different): invalid UTF-8 becomes U+FFFD, and control characters are
 * escaped so that a name holding a newline cannot forge a second line of output.
 */
export function displayPath(b: Buffer): string {
  // eslint-disable-next-line no-control-regex
  return b.toString('utf8').replace(/[\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\t':
        return '\\t';
      case '\r':
        return '\\r';
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
}

/**
 * JSON form: `{[key]: string}` plus `{[key + '_b64']: base64}` when the bytes are not valid
 * UTF-8 (the string then carries U+FFFD and cannot be turned back into the name).
 */
export function jsonPath(key: string, b: Buffer): Record<string, string> {
  const out: Record<string, string> = { [key]: b.toString('utf8') };
  if (!isUtf8(b)) out[`${key}_b64`] = b.toString('base64');
  return out;
}

/**
 * A list of paths for JSON: `key` holds them as UTF-8 text, and when any is not valid UTF-8,
 * `key_b64` holds every one of them in base64, index for index (README "Paths in JSON").
 */
export function jsonPaths(key: string, bs: readonly Buffer[]): Record<string, string[]> {
  const out: Record<string, string[]> = { [key]: bs.map((b) => b.toString('utf8')) };
  if (bs.some((b) => !isUtf8(b))) out[`${key}_b64`] = bs.map((b) => b.toString('base64'));
  return out;
}
