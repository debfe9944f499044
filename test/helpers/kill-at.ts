/**
 * The crash tests' shared scaffolding: run the CLI so that it SIGKILLs itself at a failpoint
 * (src/failpoint.ts), check it died there, and read back what it left in the catalog (integrity
 * and the execution journal) before the next run recovers it.
 */
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { hashall, type CliResult } from './cli.js';

export interface KillAt {
  /** The failpoint's name (HASHALL_FAILPOINT). */
  readonly point: string;
  /** Pass the point this many times first (HASHALL_FAILPOINT_AFTER). */
  readonly after?: number;
  /** Only at this action (HASHALL_FAILPOINT_ACTION). */
  readonly action?: number;
  /** More environment (delays, flags). */
  readonly env?: Record<string, string>;
}

/** Run `hashall ARGS` until it kills itself at the failpoint; fails the test if it did not. */
export function killAt(args: readonly string[], k: KillAt): CliResult {
  const r = hashall(args, {
    env: {
      HASHALL_FAILPOINT: k.point,
      ...(k.after === undefined ? {} : { HASHALL_FAILPOINT_AFTER: String(k.after) }),
      ...(k.action === undefined ? {} : { HASHALL_FAILPOINT_ACTION: String(k.action) }),
      ...k.env,
    },
  });
  expect(r.signal, `expected SIGKILL at ${k.point}; exit ${r.code}: ${r.stderr}`).toBe('SIGKILL');
  return r;
}

/** `conductor execute PLAN --force` killed at a failpoint. */
export function killExecuteAt(cat: string, planId: number, k: KillAt): CliResult {
  return killAt(['conductor', 'execute', String(planId), '--force', '--catalog', cat], k);
}

/** What a killed run left: the catalog's integrity_check and its open execution journal rows. */
export function leftBehind(cat: string): { integrity: string; journal: number } {
  const db = new Database(cat, { readonly: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }) as string,
      journal: (db.prepare('SELECT count(*) AS n FROM conductor_journal').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}
