/** `conductor plans`: list the plans. */
import { Command } from 'commander';
import { describeFilters } from '../../../conductor/filters.js';
import { planMode } from '../../../conductor/mode.js';
import { open, printJson, say, withGlobals, type GlobalOptions } from '../../context.js';
import { formatBytes, formatCount, formatTime } from '../../../format.js';
import { table } from '../../format.js';
import { planFilters } from '../../../catalog/plan-types.js';
import { describeScope, scopeEntryJson } from '../../../conductor/scope.js';

export function registerPlans(conductor: Command): void {
  withGlobals(conductor.command('plans').description('list plans')).action(
    async (opts: GlobalOptions) => {
      const catalog = await open(opts, { readonly: true });
      try {
        const plans = await catalog.plans.list();
        const devices = await catalog.planDevices.list();
        const aliases = new Map(devices.map((d) => [d.id, d.alias]));
        const scopes = await catalog.plans.scopes(plans.map((p) => p.id));
        if (opts.json) {
          printJson({
            plans: plans.map((p) => ({
              id: p.id,
              name: p.name,
              status: p.status,
              created_at: new Date(p.createdAt).toISOString(),
              executed_at: p.executedAt ? new Date(p.executedAt).toISOString() : null,
              device: p.options.deviceAlias,
              scope: scopes.get(p.id)!.map((e) => scopeEntryJson(e, aliases.get(e.deviceId))),
              mode: planMode(p),
              keep: planFilters(p.options).keepRules,
              filters: planFilters(p.options).filters,
              opportunities: p.opportunities,
              bytes_saveable: p.bytesSaveable,
            })),
          });
          return;
        }
        if (plans.length === 0) {
          say(opts, 'No plans yet: hashall conductor plan "NAME" creates one.');
          return;
        }
        say(
          opts,
          table(
            [
              'ID',
              'NAME',
              'STATUS',
              'DEVICE',
              'SCOPE',
              'MODE',
              'OPPORTUNITIES',
              'SAVEABLE',
              'CREATED',
              'FILTERS',
            ],
            plans.map((p) => [
              String(p.id),
              p.name,
              p.status,
              p.options.deviceAlias ?? 'all',
              describeScope(scopes.get(p.id)!) ?? '-',
              planMode(p),
              formatCount(p.opportunities),
              formatBytes(p.bytesSaveable),
              formatTime(p.createdAt),
              describeFilters(planFilters(p.options).filters) ?? '-',
            ]),
            [true, false, false, false, false, false, true, true, false, false],
          ),
        );
      } finally {
        await catalog.close();
      }
    },
  );
}
