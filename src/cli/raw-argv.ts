/**
 * Command-line arguments as the bytes the user typed. Node decodes argv as UTF-8, so a path
 * argument holding other bytes (a Latin-1 name) arrives with U+FFFD in place of them and
 * names nothing. /proc/self/cmdline still holds the exact bytes: the arguments after the
 * script are the last process.argv.length − 2 NUL-terminated fields.
 */
import { readFileSync } from 'node:fs';

let raw: Buffer[] | null | undefined;

function rawArgs(): Buffer[] | null {
  if (raw !== undefined) return raw;
  try {
    const text = readFileSync('/proc/self/cmdline');
    const fields: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === 0) {
        fields.push(Buffer.from(text.subarray(start, i)));
        start = i + 1;
      }
    }
    const n = process.argv.length - 2;
    raw = n >= 0 && fields.length >= n ? fields.slice(fields.length - n) : null;
  } catch {
    raw = null;
  }
  return raw;
}

/**
 * The exact bytes of an argument (a path, say) that commander handed over as `text`: the
 * text's UTF-8 when it has no replacement character, else the raw argument it decodes from.
 */
export function argBytes(text: string): Buffer {
  const plain = Buffer.from(text, 'utf8');
  if (!text.includes('\ufffd')) return plain;
  const args = rawArgs();
  if (!args) return plain;
  // The value may be an argument of its own, or the tail of `--opt=value`.
  for (const a of args) {
    if (a.toString('utf8') === text) return a;
  }
  for (const a of args) {
    const eq = a.indexOf(0x3d);
    if (eq > 0 && a.subarray(eq + 1).toString('utf8') === text) return a.subarray(eq + 1);
  }
  return plain;
}
