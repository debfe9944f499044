/**
 * `hashall dupes [PATH...]`: list the duplicate groups of the catalog (read-only, nothing
 * planned), largest savings first, as text, one JSON document, JSON Lines or CSV.
 */
import { Command, InvalidArgumentError, type Option } from 'commander';
import { iterateDupes } from '../../conductor/dupes.js';
import { openOutput, OutputClosed } from '../../report/output.js';
import { DUPES_FORMATS, writeDupes, type DupesFormat } from '../../report/dupes.js';
import { UserError } from '../../errors.js';
import { withGlobals, type GlobalOptions } from '../context.js';
import { withReadCatalog } from '../read-catalog.js';
import { deviceLabel } from '../../device-label.js';
import { hostView } from '../host-view.js';
import { parseFilterOpts, withFilterOptions, type FilterOpts } from '../filter-options.js';
import { deviceAndScope, PATHS_HELP } from '../scope-args.js';
import { stopRequested } from '../signals.js';

interface DupesOpts extends GlobalOptions, FilterOpts {
  device?: string;
  crossDevice?: boolean;
  limit: number;
  format?: DupesFormat;
}

function parseLimit(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('give a whole number of groups (0: all)');
  return n;
}

function parseFormat(v: string): DupesFormat {
  const f = v.toLowerCase();
  if (!(DUPES_FORMATS as readonly string[]).includes(f))
    throw new InvalidArgumentError(`use one of: ${DUPES_FORMATS.join(', ')}`);
  return f as DupesFormat;
}

export function registerDupes(program: Command): void {
  const cmd = withGlobals(
    withFilterOptions(
      program
        .command('dupes')
        .description('list the duplicate files in the catalog, largest savings first (read-only)')
        .argument('[paths...]', PATHS_HELP)
        .option(
          '--device <path>',
          'only this filesystem (its mount point or alias; a directory inside it: only that directory)',
        )
        .option('--cross-device', 'group copies on different filesystems too (shows each device)')
        .option('--limit <n>', 'groups to list (0: all)', parseLimit, 0)
        .option(
          '--format <format>',
          'text (default) | json (one document, as --json) | jsonl (one group per line) | csv (one path per row)',
          parseFormat,
        ),
    ),
  );
  // --keep is a plan option: dupes chooses no copy to keep.
  const options = cmd.options as Option[];
  options.splice(
    options.findIndex((o) => o.long === '--keep'),
    1,
  );
  cmd.action(async (paths: string[], opts: DupesOpts) => {
    if (opts.json && opts.format && opts.format !== 'json')
      throw new UserError(`--json and --format ${opts.format} disagree; give one of them`);
    const format: DupesFormat = opts.json ? 'json' : (opts.format ?? 'text');
    const { filters } = parseFilterOpts(opts);
    await withReadCatalog(opts, async (catalog) => {
      const { device, scope } = await deviceAndScope(catalog, opts.device, paths);
      const crossDevice = opts.crossDevice ?? false;
      const devices = await catalog.devices.list();
      const view = await hostView(catalog);
      const labels = new Map(devices.map((d) => [d.id, deviceLabel(d, view)]));
      const groups = iterateDupes(catalog, {
        device,
        scope,
        filters,
        crossDevice,
        limit: opts.limit,
      });
      const out = await openOutput('-', { shouldStop: stopRequested });
      try {
        if (!(opts.quiet && format === 'text')) {
          await writeDupes(groups, out, format, {
            devices,
            crossDevice,
            // One host: the alias, as always; several: which host has each copy (nas1:/pool).
            ...(view.hosts > 1 ? { label: (id: number) => labels.get(id) ?? String(id) } : {}),
            head: {
              device: device?.alias ?? null,
              scope: scope.toJson(),
              filters: filters.toJson(),
              cross_device: crossDevice,
            },
          });
        }
        await out.finish();
      } catch (err) {
        await out.abort();
        if (err instanceof OutputClosed) return;
        throw err;
      }
    });
  });
}
