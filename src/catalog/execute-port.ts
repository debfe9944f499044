/**
 * The catalog as an executor run sees it: actions to carry out, the execution journal, the executor
 * lock, replacement records, recovery. Operations take a batch (a page of actions, a batch of outcomes).
 */
import type { DB } from './open.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in concern by concern
export interface ExecuteCatalog {}

export function executeOps(_db: DB): ExecuteCatalog {
  return {};
}
