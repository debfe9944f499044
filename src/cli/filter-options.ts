/** The filter and keep-rule options that `conductor analyze` and `conductor plan` share. */
import type { Command } from 'commander';
import { Filters } from '../conductor/filters.js';
import {
  DEFAULT_KEEP,
  KEEP_RULE_NAMES,
  parseKeepRule,
  type KeepRule,
} from '../conductor/keep-rules.js';

export interface FilterOpts {
  minSize?: string;
  maxSize?: string;
  mtimeSince?: string;
  mtimeBefore?: string;
  include?: string[];
  exclude?: string[];
  keep?: string[];
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function withFilterOptions(cmd: Command): Command {
  return cmd
    .option('--min-size <size>', 'only files of at least SIZE (1GB = 10^9, 1GiB or 1G = 2^30)')
    .option('--max-size <size>', 'only files of at most SIZE')
    .option(
      '--mtime-since <date>',
      'only files modified at or after DATE (local time unless a zone is given)',
    )
    .option('--mtime-before <date>', 'only files modified before DATE')
    .option('--include <glob>', 'only paths matching GLOB (repeatable)', collect)
    .option('--exclude <glob>', 'leave out paths matching GLOB (repeatable)', collect)
    .option(
      '--keep <rule>',
      `which copy to keep, repeatable, first decisive rule wins: ${KEEP_RULE_NAMES.join(' | ')} | prefer=PREFIX (default most-linked, oldest)`,
      collect,
    );
}

/** Parse every value before the catalog is opened: a bad one is exit 2 and one line. */
export function parseFilterOpts(opts: FilterOpts): { filters: Filters; keep: readonly KeepRule[] } {
  const keep = opts.keep?.length ? opts.keep.map((r) => parseKeepRule(r)) : DEFAULT_KEEP;
  const filters = Filters.parse({
    minSize: opts.minSize,
    maxSize: opts.maxSize,
    mtimeSince: opts.mtimeSince,
    mtimeBefore: opts.mtimeBefore,
    include: opts.include,
    exclude: opts.exclude,
  });
  return { filters, keep };
}
