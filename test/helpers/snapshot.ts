/** What a tree holds, read independently of hashall (Python, fd-relative walk). */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./snapshot.py', import.meta.url));

export interface Entry {
  readonly path: Buffer;
  readonly ino: number;
  readonly size: number;
  readonly sha: string;
  readonly mode: number;
  readonly uid: number;
}

export type Snapshot = Map<string, Entry>;

export function snapshot(dir: string): Snapshot {
  const raw = JSON.parse(
    execFileSync('python3', [SCRIPT, dir], { encoding: 'utf8', maxBuffer: 1 << 30 }),
  ) as {
    p: string;
    ino: number;
    size: number;
    sha: string;
    mode: number;
    uid: number;
  }[];
  const map: Snapshot = new Map();
  for (const r of raw) {
    const path = Buffer.from(r.p, 'base64');
    map.set(path.toString('latin1'), {
      path,
      ino: r.ino,
      size: r.size,
      sha: r.sha,
      mode: r.mode,
      uid: r.uid,
    });
  }
  return map;
}

/** Bytes the distinct inodes of a snapshot occupy (apparent size, each inode once). */
export function inodeBytes(s: Snapshot): number {
  const seen = new Map<number, number>();
  for (const e of s.values()) seen.set(e.ino, e.size);
  let total = 0;
  for (const v of seen.values()) total += v;
  return total;
}

/** Every path still there with exactly its content; returns the list of differences. */
export function contentDiff(before: Snapshot, after: Snapshot): string[] {
  const diffs: string[] = [];
  for (const [k, e] of before) {
    const a = after.get(k);
    if (!a) diffs.push(`missing: ${e.path.toString()}`);
    else if (a.sha !== e.sha) diffs.push(`content changed: ${e.path.toString()}`);
  }
  for (const [k, a] of after) if (!before.has(k)) diffs.push(`extra: ${a.path.toString()}`);
  return diffs;
}
