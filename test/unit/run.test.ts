/**
 * conductor/run.ts on a real catalog in a temp directory: the lock is released however the
 * body ends, a refusal in `check` leaves no log, a live holder is refused and left in place,
 * and a scan with nothing to recover takes no lock and says nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '../../src/catalog/open.js';
import { processStartTime } from '../../src/fs/process.js';
import type { LockHolder } from '../../src/catalog/execute-port.js';
import { recoverBeforeScan, withExecutorRun, type RunEvent } from '../../src/conductor/run.js';
import { UserError } from '../../src/errors.js';

let dir: string;
let cat: Catalog;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hashall-run-'));
  cat = openCatalog(join(dir, 'c.db'));
});

afterEach(() => {
  cat.db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The device the runs of these tests act on (their plans have no rows: it is given). */
const DEVICE = 1;

/** Put another process's lock in place through the port (as that process would take it). */
async function writeLock(holder: LockHolder): Promise<void> {
  const r = await cat.executorLock.acquire({ holder, devices: [DEVICE], alive: () => true });
  expect(r.kind).toBe('acquired');
}

/** The holder of the device's lock, alive or not. */
async function lockHolder(): Promise<LockHolder | undefined> {
  return (await cat.executorLock.holders()).find((l) => l.deviceId === DEVICE)?.holder;
}

const logs = () => {
  try {
    return readdirSync(join(dir, 'logs'));
  } catch {
    return [];
  }
};

describe('withExecutorRun', () => {
  it('holds the lock for the body, writes the log, and releases both when the body throws', async () => {
    const events: RunEvent[] = [];
    let held: number | null | undefined;
    let heldAfter: number | null | undefined;
    await expect(
      withExecutorRun(
        {
          catalog: cat,
          planId: 7,
          devices: [DEVICE],
          log: { name: 'conductor-plan-7', header: 'execute plan #7' },
          onEvent: (e) => events.push(e),
        },
        async (run) => {
          held = (await lockHolder())?.planId;
          await run.lockPlan(8);
          heldAfter = (await lockHolder())?.planId;
          run.log.write('in the body');
          throw new Error('body failed');
        },
      ),
    ).rejects.toThrow('body failed');
    expect(held).toBe(7);
    expect(heldAfter).toBe(8);
    expect(await lockHolder()).toBeUndefined();
    // Both recoveries ran and found nothing.
    expect(events.map((e) => e.kind)).toEqual(['recovered-execute', 'recovered-undo']);
    const files = logs();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^conductor-plan-7-.*\.log$/);
    const text = readFileSync(join(dir, 'logs', files[0]!), 'utf8');
    expect(text).toMatch(/ execute plan #7\n.* in the body\n$/);
  });

  it('a refusal in check leaves no log and releases the lock', async () => {
    let ran = false;
    await expect(
      withExecutorRun(
        {
          catalog: cat,
          planId: 3,
          devices: [DEVICE],
          log: { name: 'conductor-undo-3', header: 'undo plan #3' },
          check: () => {
            throw new UserError('not enough free space');
          },
        },
        async () => {
          ran = true;
        },
      ),
    ).rejects.toThrow('not enough free space');
    expect(ran).toBe(false);
    expect(logs()).toEqual([]);
    expect(await lockHolder()).toBeUndefined();
  });

  // A live holder is named by pid and start time (from /proc): the parent process is one.
  const parentStart = processStartTime(process.ppid);
  it.skipIf(parentStart === undefined)(
    'refuses while another live process holds the lock, and leaves its lock alone (needs /proc)',
    async () => {
      const other = process.ppid;
      const startTime = parentStart!;
      const holder = { pid: other, startTime, hostname: hostname(), planId: 5, acquiredAt: 1 };
      await writeLock(holder);
      let ran = false;
      await expect(
        withExecutorRun(
          { catalog: cat, planId: 9, devices: [DEVICE], log: { name: 'x', header: 'x' } },
          async () => {
            ran = true;
          },
        ),
      ).rejects.toThrow(
        /another hashall execute holds this device: device 1 is being executed by pid \d+ on host \S+ since \d{4}-/,
      );
      expect(ran).toBe(false);
      expect(await lockHolder()).toEqual(holder);
      expect(logs()).toEqual([]);
    },
  );
});

describe('recoverBeforeScan', () => {
  it('with nothing journaled: no event, no lock taken', async () => {
    const events: RunEvent[] = [];
    const holder = {
      pid: 1,
      startTime: 'not-a-start-time',
      hostname: hostname(),
      planId: 2,
      acquiredAt: 1,
    };
    // A stale lock stays as it is: recovery had nothing to do, so it took no lock.
    await writeLock(holder);
    await recoverBeforeScan(cat, (e) => events.push(e));
    expect(events).toEqual([]);
    expect(await lockHolder()).toEqual(holder);
  });
});
