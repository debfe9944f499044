/**
 * A scan recovers what a killed execute journaled, leaving alone the devices a live run holds.
 * It reads the journal, then the locks: a live execute may end, or another start, between the
 * two reads (several hosts on one catalog do this all day). Neither may turn into a false
 * "Recovered an interrupted execute" note or a failed scan. The scan is paused between its
 * steps (test-only failpoint pauses) while real executes run on the same catalog.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, hashall } from '../helpers/cli.js';
import { removeTree, tempDir, writeTree } from '../helpers/fs.js';

interface Run {
  readonly child: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}

function start(args: string[], delay: string): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, HASHALL_CATALOG: '', HASHALL_FAILPOINT_DELAY: delay },
  });
  const run: Run = {
    child,
    out: '',
    err: '',
    exited: new Promise((r) => child.on('exit', (c) => r(c))),
  };
  child.stdout!.on('data', (d: Buffer) => (run.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (run.err += d.toString()));
  return run;
}

/** Wait until `run` says it paused at `point` (it says so before the pause starts). */
async function pausedAt(run: Run, point: string): Promise<void> {
  const line = `failpoint: paused at ${point}`;
  for (let i = 0; !run.err.includes(line); i++) {
    if (run.child.exitCode !== null || i > 1200)
      throw new Error(`never paused at ${point}: ${run.err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** stderr without the failpoint's own lines: what a user would have read. */
const userErr = (run: Run) =>
  run.err
    .split('\n')
    .filter((l) => l !== '' && !l.includes('failpoint: paused at'))
    .join('\n');

const BIG = (tag: string) => Buffer.alloc(20_000, tag);

describe('a scan while executes start and end on the same catalog', () => {
  let dir: string;
  let tree: string;
  let cat: string;
  let plans: number[];

  beforeEach(() => {
    dir = tempDir();
    tree = join(dir, 't');
    // Two directories on one filesystem, a plan for each: two executes, one device.
    writeTree(tree, {
      'a/keep.bin': BIG('a'),
      'a/x.bin': BIG('a'),
      'b/keep.bin': BIG('b'),
      'b/x.bin': BIG('b'),
    });
    cat = join(dir, 'c.db');
    expect(hashall(['scan', tree, '--catalog', cat, '-q']).code).toBe(0);
    plans = ['a', 'b'].map(
      (d) =>
        hashall([
          'conductor',
          'plan',
          d,
          join(tree, d),
          '--keep',
          'shortest-path',
          '--catalog',
          cat,
          '--json',
        ]).json<{ id: number }>().id,
    );
  });
  afterEach(() => {
    if (dir) removeTree(dir);
  });

  const execute = (plan: number, pauseMs: number) =>
    start(
      ['conductor', 'execute', String(plan), '--force', '--json', '--catalog', cat],
      `execute-apply=${pauseMs}`,
    );

  it('an execute that ends between the two reads: no recovery note, the scan is clean', async () => {
    // The execute journals its action, then pauses; the scan reads the journal meanwhile, then
    // pauses long enough for the execute to finish and let go of its lock.
    const e1 = execute(plans[0]!, 3000);
    await pausedAt(e1, 'execute-apply');
    const scan = start(['scan', tree, '--catalog', cat, '--json'], 'scan-recovery-journal=8000');
    await pausedAt(scan, 'scan-recovery-journal');
    expect(e1.child.exitCode, 'the execute ended before the scan read the journal').toBeNull();
    expect(await e1.exited, e1.err).toBe(0);
    expect(await scan.exited, scan.err).toBe(0);
    expect(userErr(scan)).toBe('');
    expect(lstatSync(join(tree, 'a/x.bin')).ino).toBe(lstatSync(join(tree, 'a/keep.bin')).ino);
  }, 60_000);

  it('an execute that starts between reading the locks and taking them: the scan reads again, and goes on', async () => {
    const e1 = execute(plans[0]!, 3000);
    await pausedAt(e1, 'execute-apply');
    const scan = start(
      ['scan', tree, '--catalog', cat, '--json'],
      'scan-recovery-journal=4000,scan-recovery-lock=4000',
    );
    await pausedAt(scan, 'scan-recovery-journal');
    expect(await e1.exited, e1.err).toBe(0);
    // The scan has read a device as journaled and free; another execute takes it now and holds
    // it (paused after it journaled) until after the scan has read everything again.
    await pausedAt(scan, 'scan-recovery-lock');
    const e2 = execute(plans[1]!, 12_000);
    await pausedAt(e2, 'execute-apply');
    expect(
      scan.child.exitCode,
      'the scan went on before the second execute took its lock',
    ).toBeNull();
    expect(await scan.exited, scan.err).toBe(0);
    expect(userErr(scan)).toBe('');
    expect(JSON.parse(scan.out)).toMatchObject({ files: 4 });
    // The live execute's journal was left to it: it completes its action.
    expect(await e2.exited, e2.err).toBe(0);
    expect(JSON.parse(e2.out)).toMatchObject({ executed: 1, failed: 0 });
    expect(lstatSync(join(tree, 'b/x.bin')).ino).toBe(lstatSync(join(tree, 'b/keep.bin')).ino);
  }, 90_000);
});
