/**
 * The catalog as the conductor sees it: plans, actions, the execution journal, the executor
 * lock, undo records. Operations take a batch (a plan's page of actions, a batch of outcomes).
 */
import type { DB } from './open.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in concern by concern
export interface ConductorCatalog {}

export function conductorOps(_db: DB): ConductorCatalog {
  return {};
}
