/**
 * The plan concern of the catalog port (../plan-port.ts) on PostgreSQL, over one `pg.Client`,
 * with the semantics of the SQLite implementation (../plan-sqlite.ts): plans (plans.ts), their
 * actions (actions.ts), the groups planning pages through (planning.ts), devices as planning
 * names them (plan-devices.ts) and undo's records (undo.ts). Selections live in temporary
 * tables of the connection, as SQLite's in `temp`: one connection plans one plan at a time.
 * Planning a whole plan is the caller's unit of work (pgUnitOfWork, in pgScanOps).
 */
import type pg from 'pg';
import type { PlanCatalog } from '../plan-port.js';
import { pgPlanActionRecords } from './actions.js';
import { pgPlanDevices } from './plan-devices.js';
import { pgPlanningOps } from './planning.js';
import { pgPlanRecords } from './plans.js';
import { pgUndoRecords } from './undo.js';

export function pgPlanOps(client: pg.Client): PlanCatalog {
  return {
    plans: pgPlanRecords(client),
    planActions: pgPlanActionRecords(client),
    planning: pgPlanningOps(client),
    planDevices: pgPlanDevices(client),
    undo: pgUndoRecords(client),
  };
}
