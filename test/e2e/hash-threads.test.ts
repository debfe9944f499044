/**
 * The addon's hashing threads (native/hash-pool.cc) and the process around them: a batch out
 * keeps the process alive until it is answered; a process that exits, or dies of an uncaught
 * error, while the threads stream a large file ends with its own exit code (no abort, no hang:
 * the environment's teardown stops the threads); close() while they read returns, and a batch
 * sent after it is refused. Each case runs in a process of its own, through the built pool, on
 * every Node line CI runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree, tempDir } from '../helpers/fs.js';
import { nativeStatus } from '../../src/fs/native.js';

const POOL = new URL('../../dist/scan/hash-pool.js', import.meta.url).href;
const dir = tempDir();
let big: Buffer;

beforeAll(() => {
  big = Buffer.alloc(96 << 20);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
  writeFileSync(join(dir, 'big1'), big);
  writeFileSync(join(dir, 'big2'), big);
});
afterAll(() => removeTree(dir));

type How = 'wait' | 'exit' | 'throw' | 'close';

/** Sends a whole read of each big file, then leaves as `how` says; what it printed, how it ended. */
function run(how: How) {
  const script = `
    import { lstatSync } from 'node:fs';
    const { ThreadHashPool, startHashPool } = await import(${JSON.stringify(POOL)});
    const pool = startHashPool(2, 'threads');
    if (!(pool instanceof ThreadHashPool)) throw new Error('not the addon threads');
    const job = (name) => {
      const path = ${JSON.stringify(dir)} + '/' + name;
      const st = lstatSync(path, { bigint: true });
      return { path: Buffer.from(path), inode: BigInt.asIntN(64, st.ino), size: st.size,
               mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
    };
    const first = pool.run('full', [job('big1')]);
    void pool.run('full', [job('big2')]);
    const how = ${JSON.stringify(how)};
    if (how === 'wait') {
      // No close(), nothing else pending: only the batches out keep the process alive.
      first.then((r) => console.log(JSON.stringify({ status: r.status[0], bytes: r.bytesRead[0],
        sha256: Buffer.from(r.sha256.subarray(0, 32)).toString('hex') })));
    } else {
      setTimeout(async () => {
        if (how === 'exit') process.exit(3);
        if (how === 'throw') throw new Error('boom');
        await pool.close();
        try {
          await pool.run('full', [job('big1')]);
          console.log('sent after close');
        } catch (err) {
          console.log('refused: ' + err.message);
        }
      }, 5);
    }`;
  const file = join(dir, `${how}.mjs`);
  writeFileSync(file, script);
  return spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
}

function requireHashPool(ctx: { skip: (note?: string) => void }): void {
  const st = nativeStatus();
  if (st.kind === 'loaded' && st.addon.HashPool) return;
  const why = 'the native addon (with HashPool) did not load';
  if (process.env.HASHALL_REQUIRE_NATIVE === '1' && process.env.HASHALL_NATIVE !== '0')
    throw new Error(why);
  console.warn(`skipping: ${why} (npm run build:native)`);
  ctx.skip(why);
}

describe('the hashing threads and their process', () => {
  it('a batch out keeps the process alive until it is answered, right', (ctx) => {
    requireHashPool(ctx);
    const r = run('wait');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      status: 0,
      bytes: big.length,
      sha256: createHash('sha256').update(big).digest('hex'),
    });
  });

  it('exiting or dying while the threads read ends the process with its own code', (ctx) => {
    requireHashPool(ctx);
    const exit = run('exit');
    expect(exit.signal).toBeNull();
    expect(exit.status).toBe(3);
    const died = run('throw');
    expect(died.signal).toBeNull();
    expect(died.status).toBe(1);
    expect(died.stderr).toContain('boom');
  });

  it('close() while they read returns, and the pool refuses batches after it', (ctx) => {
    requireHashPool(ctx);
    const r = run('close');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('refused: HashPool: no thread to hash with (closed?)');
  });
});
