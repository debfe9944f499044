/** `conductor execute ID`: carry out a plan (or --dry-run it) as one executor run. */
import { Command } from 'commander';
import type { Catalog } from '../../../catalog/port.js';
import type { PlanRow } from '../../../catalog/plans.js';
import type { ExecuteSummary, Verify } from '../../../conductor/execute/index.js';
import { recoveryPending, withExecutorRun } from '../../../conductor/run.js';
import { refuseDevicesElsewhere } from '../../../conductor/host-check.js';
import { EXIT, UserError } from '../../../errors.js';
import { open, printJson, say, warn, withGlobals, type GlobalOptions } from '../../context.js';
import { warnRecovery } from '../../render/recovery.js';
import { SMALL_PLAN, runPlan } from '../../render/run-plan.js';
import { parsePlanId, parseVerify } from './args.js';
import { confirmExecute } from '../../render/prompt.js';

interface ExecOpts extends GlobalOptions {
  dryRun?: boolean;
  verbose?: boolean;
  force?: boolean;
  verify: Verify;
}

export function registerExecute(conductor: Command): void {
  withGlobals(
    conductor
      .command('execute')
      .description('carry out a plan (see --dry-run first)')
      .argument('<plan_id>', 'plan id', parsePlanId)
      .option('--dry-run', 'check every action against the disk and report; change nothing')
      .option('--force', 'execute without asking (required when not on a terminal)')
      .option(
        '-v, --verbose',
        `print every action (a plan of more than ${SMALL_PLAN} prints only its failures)`,
      )
      .option(
        '--verify <how>',
        "'bytes' (compare both files, default) or 'hash' (re-hash both)",
        parseVerify,
        'bytes',
      ),
  ).action(async (id: number, opts: ExecOpts) => {
    const dryRun = opts.dryRun ?? false;
    const cat = await open(opts, { readonly: dryRun });
    const catalog: Catalog = cat;
    try {
      let plan = await requirePlan(catalog, id);
      if (
        plan.status === 'undone' ||
        plan.status === 'partially-undone' ||
        plan.status === 'undoing'
      )
        throw new UserError(
          `plan ${id} is ${plan.status}: its paths were given their own copies back; make a new plan to deduplicate them again`,
        );
      await refuseDevicesElsewhere(catalog, id);
      const hardlinks = (await catalog.execution.replacements(id)).actions;
      if (!dryRun && !opts.force) {
        if (!process.stdin.isTTY) {
          throw new UserError(
            `refusing to execute plan ${id} without --force when not on a terminal; review it with 'hashall conductor show-plan ${id}' and '--dry-run', then add --force`,
          );
        }
        if (!(await confirmExecute(plan, hardlinks))) {
          say(opts, 'Nothing done.');
          return;
        }
      }
      if (dryRun) {
        if ((await recoveryPending(catalog)).execute) {
          warn(
            opts,
            'hashall: note: an interrupted execute left work to recover; the next real execute (or scan) will recover it first',
          );
        }
        const { summary, doc } = await runPlan(catalog, plan, {
          opts,
          run: { kind: 'dry-run' },
          verify: opts.verify,
          verbose: opts.verbose ?? false,
          replacements: hardlinks,
        });
        finish(summary, doc);
        return;
      }
      await withExecutorRun(
        {
          catalog,
          planId: id,
          log: {
            name: `conductor-plan-${id}`,
            header: `execute plan #${plan.id} "${plan.name}" (verify: ${opts.verify}) pid ${process.pid}`,
          },
          onEvent: warnRecovery(opts),
        },
        async (run) => {
          // Recovery may have finished some of this plan's actions.
          plan = await requirePlan(catalog, id);
          const { summary, doc } = await runPlan(catalog, plan, {
            opts,
            run: { kind: 'real', log: run.log, recovery: run.recovery.execute },
            verify: opts.verify,
            verbose: opts.verbose ?? false,
            replacements: hardlinks,
          });
          finish(summary, doc);
        },
      );
    } finally {
      await catalog.close();
    }
    function finish(summary: ExecuteSummary, doc: Record<string, unknown>): void {
      if (opts.json) printJson(doc);
      process.exitCode = summary.interrupted
        ? EXIT.interrupted
        : summary.failed > 0
          ? EXIT.partial
          : EXIT.ok;
    }
  });
}

async function requirePlan(catalog: Pick<Catalog, 'execution'>, id: number): Promise<PlanRow> {
  const plan = await catalog.execution.plan(id);
  if (!plan) throw new UserError(`no plan with id ${id}; 'hashall conductor plans' lists them`);
  return plan;
}
