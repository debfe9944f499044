/**
 * scan/serial.ts: the post-walk hash stage's catalog steps run one at a time, in the order
 * asked, and a failed step fails only its own caller.
 */
import { describe, expect, it } from 'vitest';
import { Serial } from '../../src/scan/serial.js';

const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Serial', () => {
  it('runs steps one at a time in the order asked, even when an earlier one is slower', async () => {
    const serial = new Serial();
    const log: string[] = [];
    let running = 0;
    const step = (name: string, ms: number) =>
      serial.run(async () => {
        running++;
        expect(running).toBe(1);
        log.push(`start ${name}`);
        await later(ms);
        log.push(`end ${name}`);
        running--;
        return name;
      });
    const results = await Promise.all([step('a', 30), step('b', 1), step('c', 10)]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('a failed step rejects its own promise; the steps after it still run', async () => {
    const serial = new Serial();
    const boom = new Error('write failed');
    const failed = serial.run(() => Promise.reject(boom));
    const next = serial.run(() => Promise.resolve('page'));
    await expect(failed).rejects.toBe(boom);
    await expect(next).resolves.toBe('page');
  });
});
