/**
 * The hashing threads run HASHALL_HASH_NICE (10) nice steps below the rest of hashall, the
 * addon's (native/hash-pool.cc) and Node's workers (src/scan/hash-worker.ts) alike: counted on
 * the threads of a real hash pool from the build, as the kernel reports each
 * (/proc/PID/task/TID/stat), never above 19, and not at all at 0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree, tempDir } from '../helpers/fs.js';
import { nativeStatus } from '../../src/fs/native.js';

const POOL = new URL('../../dist/scan/hash-pool.js', import.meta.url).href;
const dir = tempDir();
afterAll(() => removeTree(dir));

type Kind = 'threads' | 'workers';

/** The nice value of each thread of a process that started a pool of two hashing threads. */
function threadNices(kind: Kind, env: Record<string, string>, prefix: string[] = []): number[] {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    const { ThreadHashPool, startHashPool } = await import(${JSON.stringify(POOL)});
    const pool = startHashPool(2, ${JSON.stringify(kind)});
    if ((pool instanceof ThreadHashPool) !== (${JSON.stringify(kind)} === 'threads'))
      throw new Error('not the pool asked for: ' + pool.constructor.name);
    await pool.ready;
    const nices = readdirSync('/proc/self/task').map((t) => {
      const stat = readFileSync('/proc/self/task/' + t + '/stat', 'latin1');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
    await pool.close();
    process.stdout.write(JSON.stringify(nices));`;
  const file = join(dir, 'pool.mjs');
  writeFileSync(file, script);
  const argv = [...prefix, process.execPath, file];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as number[]).sort((a, b) => a - b);
}

const count = (xs: number[], v: number) => xs.filter((x) => x === v).length;

const kinds: Kind[] = nativeHashPool() ? ['threads', 'workers'] : ['workers'];

describe.each(kinds)('hashing %s yield to the walk', (kind) => {
  it('run 10 nice steps below the other threads by default', () => {
    const n = threadNices(kind, { HASHALL_HASH_NICE: '' });
    expect(count(n, 10)).toBe(2);
    expect(n.length - count(n, 10)).toBe(count(n, 0));
  });

  it('HASHALL_HASH_NICE sets the steps; 0 leaves them at the walk’s priority', () => {
    expect(count(threadNices(kind, { HASHALL_HASH_NICE: '3' }), 3)).toBe(2);
    const none = threadNices(kind, { HASHALL_HASH_NICE: '0' });
    expect(none.every((x) => x === 0)).toBe(true);
  });

  it('never go past 19, under a hashall already started with nice', () => {
    const n = threadNices(kind, { HASHALL_HASH_NICE: '' }, ['nice', '-n', '15']);
    expect(count(n, 19)).toBe(2);
    expect(n.length - count(n, 19)).toBe(count(n, 15));
  });
});

/** Whether the addon with its hashing threads loaded (CI requires it: HASHALL_REQUIRE_NATIVE). */
function nativeHashPool(): boolean {
  const st = nativeStatus();
  if (st.kind === 'loaded' && st.addon.HashPool) return true;
  const why = 'the native addon (with HashPool) did not load: only the workers are checked';
  if (process.env.HASHALL_REQUIRE_NATIVE === '1' && process.env.HASHALL_NATIVE !== '0')
    throw new Error(why);
  console.warn(`note: ${why}`);
  return false;
}
