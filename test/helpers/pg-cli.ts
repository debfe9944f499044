/**
 * What the PostgreSQL CLI suites share: connections a test file opens to look into its
 * catalogs, closed together after it, and a scan through the real CLI that must succeed.
 */
import type pg from 'pg';
import { expect } from 'vitest';
import { connectPg } from '../../src/catalog/pg/connect.js';
import { hashall } from './cli.js';

/** Connections opened by one test file, closed by `closeAll` (its afterAll). */
export class PgClients {
  private readonly open: pg.Client[] = [];

  async connect(url: string): Promise<pg.Client> {
    const { client } = await connectPg(url);
    this.open.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    for (const c of this.open.splice(0)) await c.end().catch(() => undefined);
  }
}

/** `hashall scan TREE --catalog URL --quiet`, which must exit 0 (its stderr shown if not). */
export function scanOk(tree: string, url: string): void {
  const r = hashall(['scan', tree, '--catalog', url, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}
