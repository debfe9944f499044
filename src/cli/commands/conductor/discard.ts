/** `conductor discard ID` (issue 12 §5): remove a plan that was never executed. */
import type { Command } from 'commander';
import { discardPlan } from '../../../conductor/discard.js';
import { open, printJson, say, withGlobals, type GlobalOptions } from '../../context.js';
import { countOf } from '../../../format.js';
import { styleFor } from '../../style.js';
import { parsePlanId } from './args.js';

export function registerDiscard(conductor: Command): void {
  withGlobals(
    conductor
      .command('discard')
      .description('remove a plan that was never executed')
      .argument('<plan_id>', 'plan id', parsePlanId),
  ).action(async (id: number, opts: GlobalOptions) => {
    const catalog = await open(opts);
    try {
      const r = await discardPlan(catalog, id);
      if (opts.json) printJson({ plan_id: id, discarded: true, actions: r.actions });
      else
        say(opts, styleFor().deco('🗑️ ', `Plan ${id} discarded (${countOf(r.actions, 'action')})`));
    } finally {
      await catalog.close();
    }
  });
}
