/** `hashall conductor`: one file per subcommand, registered here. */
import type { Command } from 'commander';
import { registerAnalyze } from './analyze.js';
import { registerAutoExecute } from './auto-execute.js';
import { registerExecute } from './execute.js';
import { registerPlan } from './plan.js';
import { registerPlans } from './plans.js';
import { registerShowPlan } from './show-plan.js';
import { registerStatus } from './status.js';
import { registerDiscard } from './discard.js';
import { registerUndo } from './undo.js';
import { registerReport } from '../report.js';

export function registerConductor(program: Command): void {
  const conductor = program
    .command('conductor')
    .description('analyze → plan → review → dry-run → execute');
  registerAnalyze(conductor);
  registerPlan(conductor);
  registerShowPlan(conductor);
  registerPlans(conductor);
  registerExecute(conductor);
  registerAutoExecute(conductor);
  registerStatus(conductor);
  registerReport(conductor);
  registerUndo(conductor);
  registerDiscard(conductor);
  for (const c of conductor.commands) c.exitOverride();
  conductor.exitOverride();
}
