/**
 * The human form of a file name or path (base layer: every layer may print one).
 *
 * A Linux name is bytes. Printed as is it can lie: two names that differ only in bytes that
 * are not UTF-8 would both show U+FFFD, and a newline in a name forges a second line of
 * output. A name that holds such bytes is printed the way `ls --quoting-style=shell-escape`
 * prints it — 'caf'$'\351''.txt' — which bash reads back to exactly the same bytes; every
 * other name is printed unchanged, so ordinary output stays readable.
 *
 * Two different names never print the same: quoted forms start with ' or $ and decode to
 * their bytes; a name starting with ' or $ is itself quoted, so no plain form starts so.
 */
import { isUtf8 } from 'node:buffer';

/**
 * Characters that are valid UTF-8 but must not reach a terminal as such: C0/C1 controls and
 * DEL (they move the cursor or end the line), and the invisible or direction-changing ones
 * (U+200B–U+200F, U+2028/U+2029, U+202A–U+202E, U+2066–U+2069, U+FEFF) that make one name
 * look like another.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/;

/** The printable form of `b` (a path or a single name). */
export function displayPath(b: Buffer): string {
  if (isUtf8(b)) {
    const s = b.toString('utf8');
    if (!UNSAFE.test(s) && s[0] !== "'" && s[0] !== '$') return s;
  }
  return shellEscape(b);
}

/** Named escapes bash's $'…' understands; every other unsafe byte is written in octal. */
const NAMED: Record<number, string> = {
  0x07: '\\a',
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0b: '\\v',
  0x0c: '\\f',
  0x0d: '\\r',
};

/** Length of the UTF-8 sequence a lead byte announces (0: not a lead byte). */
function seqLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Shell quoting of arbitrary bytes, always: printable characters inside '…' (a ' as '\''),
 * the rest as $'\ooo' (or $'\n' and the like). `bash -c "printf %s <this>"` prints `b`.
 */
export function shellEscape(b: Buffer): string {
  let out = '';
  let quoted = false; // inside '…'
  let escaped = false; // inside $'…'
  const literal = (s: string) => {
    if (escaped) {
      out += "'";
      escaped = false;
    }
    if (!quoted) {
      out += "'";
      quoted = true;
    }
    out += s === "'" ? "'\\''" : s;
  };
  const escape = (byte: number) => {
    if (quoted) {
      out += "'";
      quoted = false;
    }
    if (!escaped) {
      out += "$'";
      escaped = true;
    }
    out += NAMED[byte] ?? `\\${byte.toString(8).padStart(3, '0')}`;
  };
  for (let i = 0; i < b.length;) {
    const n = seqLength(b[i]!);
    const seq = n > 0 && i + n <= b.length ? b.subarray(i, i + n) : undefined;
    if (seq && isUtf8(seq)) {
      const ch = seq.toString('utf8');
      if (!UNSAFE.test(ch)) literal(ch);
      else for (const byte of seq) escape(byte);
      i += n;
    } else {
      escape(b[i]!);
      i++;
    }
  }
  if (quoted || escaped) out += "'";
  return out === '' ? "''" : out;
}
