/** Waiting for another process to reach a state, by polling the catalog it writes. */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';

/** Resolve once `query` (a SELECT returning one number `n`) gives n > 0, or throw after `ms`. */
export async function waitForCatalog(cat: string, query: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (existsSync(cat)) {
      try {
        const db = new Database(cat, { readonly: true, timeout: 1000 });
        try {
          const r = db.prepare(query).get() as { n: number } | undefined;
          if (r && r.n > 0) return;
        } finally {
          db.close();
        }
      } catch {
        // not created yet, or mid-migration: try again
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${query}`);
}
