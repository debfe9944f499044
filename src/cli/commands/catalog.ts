/** `hashall catalog copy`: move a whole catalog between SQLite and PostgreSQL (README "Several hosts"). */
import type { Command } from 'commander';
import { copyCatalog, type CopyResult } from '../../catalog/copy/copy.js';
import { countOf, formatCount } from '../../format.js';
import { printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { progressWanted } from '../progress.js';
import { stopRequested } from '../signals.js';
import { StatusLine, bar, percent } from '../status-line.js';

interface CopyOptions extends GlobalOptions {
  from: string;
  to: string;
}

function render(r: CopyResult): string {
  const lines = [
    `Copied ${countOf(r.rows, 'row')} in ${countOf(r.tables.length, 'table')} from ${r.from} to ${r.to}.`,
  ];
  for (const t of r.tables.filter((x) => x.rows > 0)) {
    lines.push(`  ${t.name.padEnd(24)} ${formatCount(t.rows).padStart(12)}`);
  }
  return lines.join('\n');
}

export function registerCatalog(program: Command): void {
  const catalog = program
    .command('catalog')
    .description('work on a catalog as a whole (copy it between SQLite and PostgreSQL)');
  withGlobals(
    catalog
      .command('copy')
      .description(
        'copy a whole catalog (files, devices, hosts, scans, plans and their history) into an empty one',
      )
      .requiredOption('--from <catalog>', 'the catalog to copy: a file, or a postgresql:// URL')
      .requiredOption('--to <catalog>', 'an empty or new catalog: a file, or a postgresql:// URL'),
  ).action(async (opts: CopyOptions) => {
    const line = progressWanted(opts.quiet) ? new StatusLine(process.stderr) : undefined;
    try {
      const result = await copyCatalog({
        from: opts.from,
        to: opts.to,
        stopRequested,
        onProgress: (p) => {
          if (line?.due()) {
            line.draw(
              `${bar(p.total ? p.copied / p.total : 1)} ${percent(p.copied, p.total)} ${p.table} ${formatCount(p.copied)}/${formatCount(p.total)}`,
            );
          }
        },
      });
      line?.stop();
      if (opts.json)
        printJson({ from: result.from, to: result.to, rows: result.rows, tables: result.tables });
      else say(opts, render(result));
    } finally {
      line?.stop();
    }
  });
}
