/**
 * The catalog as planning sees it: plans and their actions as written by `plan`, scopes,
 * keep rules' inputs, the plan list, show-plan, discard, and undo records.
 * Operations take a batch (a group's actions, a page of a plan).
 */
import type { DB } from './open.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in concern by concern
export interface PlanCatalog {}

export function planOps(_db: DB): PlanCatalog {
  return {};
}
