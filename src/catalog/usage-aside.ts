/**
 * Runs usage-worker.ts: a device usage count on a thread and a connection of its own, while
 * the caller's connection does other work (stored-totals.ts). Resolves the worker's rows, or
 * why there are none (it could not start, open the catalog, or see the expected scan); never
 * rejects: the caller then counts on its own connection.
 */
import { Worker } from 'node:worker_threads';
import type { UsageAnswer, UsageAsk, UsageRow } from './usage-query.js';

export type UsageCount =
  | { readonly kind: 'counted'; readonly rows: readonly UsageRow[] }
  | { readonly kind: 'failed'; readonly why: string };

export function countUsageAside(ask: UsageAsk): Promise<UsageCount> {
  return new Promise((resolve) => {
    let answer: UsageAnswer | undefined;
    let worker: Worker;
    try {
      // Named from the folder above, as the hash worker is (scan/hash-pool.ts): in the bundle
      // this code sits in dist/cli/main.js, the worker in dist/catalog/.
      // It holds a few rows of JavaScript: a small heap is plenty (running out of it ends the
      // worker, and the scan's connection counts instead).
      worker = new Worker(new URL('../catalog/usage-worker.js', import.meta.url), {
        workerData: ask,
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
      });
    } catch (error) {
      resolve({ kind: 'failed', why: String(error) });
      return;
    }
    worker.on('message', (a: UsageAnswer) => (answer ??= a));
    // What the worker did not catch itself (its module did not load) comes over cloned.
    worker.on('error', (error: unknown) => {
      const message =
        typeof error === 'object' && error !== null && 'message' in error
          ? String(error.message)
          : String(error);
      answer ??= { kind: 'refused', why: message };
    });
    // A message is delivered before 'exit': the answer, if any, is in by then.
    worker.on('exit', (code) => {
      if (answer?.kind === 'rows') resolve({ kind: 'counted', rows: answer.rows });
      else resolve({ kind: 'failed', why: answer?.why ?? `usage worker exited with code ${code}` });
    });
  });
}
