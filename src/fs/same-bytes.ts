/**
 * Comparing two open files' bytes with node:fs (the way without the addon; native/at.cc's
 * `compare` does it in one call).
 */
import { readSync } from 'node:fs';

/**
 * Compare two open files byte for byte from the start. `equal` requires both to end together
 * at `size`.
 */
export function jsSameBytes(
  fdA: number,
  fdB: number,
  size: number,
  bufA: Buffer,
  bufB: Buffer,
): boolean {
  let pos = 0;
  while (true) {
    const n = readSync(fdA, bufA, 0, bufA.length, pos);
    let m = 0;
    while (m < n) {
      const k = readSync(fdB, bufB, m, n - m, pos + m);
      if (k === 0) break;
      m += k;
    }
    if (m !== n) return false;
    if (n === 0) return pos === size && readSync(fdB, bufB, 0, 1, pos) === 0;
    if (bufA.compare(bufB, 0, n, 0, n) !== 0) return false;
    pos += n;
  }
}
