/**
 * A small tree made for reports and exports: duplicate groups whose names hold every hostile
 * byte a report must carry (invalid UTF-8, LF, CR LF, comma, quotes, HTML), a group with a mode
 * mismatch (SKIP), a hardlinked pair (NOOP) and a unique file.
 */
import { chmodSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';

/** `root` joined with byte or string parts. */
export function bpath(root: string, ...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat([
    Buffer.from(root),
    ...parts.flatMap((p) => [Buffer.from('/'), Buffer.from(p)]),
  ]);
}

/** The hostile names, as bytes, each holding the 5,000-byte content of group A. */
export const HOSTILE_NAMES: readonly Buffer[] = [
  Buffer.from('plain.bin'),
  Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('.bin')]),
  Buffer.from('new\nline,comma "q".bin'),
  Buffer.from('<img src=x onerror=alert(1)>&amp;.bin'),
  Buffer.from('cr\r\nlf.bin'),
  Buffer.from('tab\there\rlone cr.bin'),
];

export function writeReportTree(root: string): void {
  const dir = (...parts: (string | Buffer)[]) => {
    const p = bpath(root, ...parts);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const put = (content: Buffer, ...parts: (string | Buffer)[]) => {
    const p = bpath(root, ...parts);
    writeFileSync(p, content);
    chmodSync(p, 0o644);
    return p;
  };
  dir('dup');
  for (const name of HOSTILE_NAMES) put(Buffer.alloc(5000, 'A'), 'dup', name);
  dir('big');
  for (const n of ['one.iso', 'two.iso', 'three.iso']) put(Buffer.alloc(300_000, 'B'), 'big', n);
  dir('mid');
  for (const n of ['x.dat', 'y.dat']) put(Buffer.alloc(120_000, 'C'), 'mid', n);
  chmodSync(put(Buffer.alloc(120_000, 'C'), 'mid', 'z-private.dat'), 0o600);
  dir('links');
  const orig = put(Buffer.alloc(50_000, 'D'), 'links', 'orig.mkv');
  linkSync(orig, bpath(root, 'links', 'hard.mkv'));
  put(Buffer.from('only one of me'), 'unique.txt');
}
