/** `hashall conductor report PLAN_ID --format json|csv|html --out FILE`. */
import { Command, InvalidArgumentError } from 'commander';
import { extname, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { writePlanHtml, HTML_MAX_ROWS } from '../../report/html.js';
import { openOutput, OutputClosed } from '../../report/output.js';
import { hostView } from '../host-view.js';
import {
  REPORT_FORMATS,
  loadPlanReport,
  writePlanCsv,
  writePlanJson,
  type ReportFormat,
} from '../../report/plan-report.js';
import { printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { withReadCatalog } from '../read-catalog.js';
import { countOf, formatBytes, formatCount } from '../../format.js';
import { styleFor } from '../style.js';
import { stopRequested } from '../signals.js';

function parsePlanId(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('a plan id is a positive whole number');
  return n;
}

function parseFormat(v: string): ReportFormat {
  const f = v.toLowerCase();
  if (!(REPORT_FORMATS as readonly string[]).includes(f))
    throw new InvalidArgumentError(`use one of: ${REPORT_FORMATS.join(', ')}`);
  return f as ReportFormat;
}

function parseRows(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('give a whole number of rows from 1 upwards');
  return n;
}

/** --format, or else what the --out file name says (report.html → html). */
function formatFor(out: string, given: ReportFormat | undefined): ReportFormat {
  if (given) return given;
  const ext = extname(out).toLowerCase();
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.csv') return 'csv';
  if (ext === '.json') return 'json';
  throw new UserError(
    `give --format ${REPORT_FORMATS.join('|')} (it cannot be told from '${out}')`,
  );
}

interface ReportOpts extends GlobalOptions {
  format?: ReportFormat;
  out: string;
  maxRows: number;
}

export function registerReport(conductor: Command): void {
  withGlobals(
    conductor
      .command('report')
      .description('write a plan and all its actions as JSON, CSV or one self-contained HTML page')
      .argument('<plan_id>', 'plan id', parsePlanId)
      .option(
        '--format <format>',
        `${REPORT_FORMATS.join(' | ')} (default: from the --out file's extension)`,
        parseFormat,
      )
      .requiredOption('--out <file>', "the file to write; '-' is standard output (json and csv)")
      .option(
        '--max-rows <n>',
        'html: the most actions the page embeds (HARDLINK by bytes first)',
        parseRows,
        HTML_MAX_ROWS,
      ),
  ).action(async (id: number, opts: ReportOpts) => {
    const format = formatFor(opts.out, opts.format);
    if (format === 'html' && opts.out === '-') {
      throw new UserError(
        "an HTML report is a page to open in a browser: give it a file name, e.g. --out plan.html ('-' is for json and csv)",
      );
    }
    await withReadCatalog(opts, async (catalog) => {
      const report = await loadPlanReport(catalog, id, await hostView(catalog));
      const out = await openOutput(opts.out, {
        shouldStop: stopRequested,
        protect: [catalog.location],
      });
      let rows: number;
      try {
        rows =
          format === 'json'
            ? await writePlanJson(catalog, report, out)
            : format === 'csv'
              ? await writePlanCsv(catalog, report, out)
              : await writePlanHtml(catalog, report, out, opts.maxRows);
        await out.finish();
      } catch (err) {
        await out.abort();
        if (err instanceof OutputClosed) return;
        throw err;
      }
      if (opts.out === '-') return;
      const path = resolve(opts.out);
      if (opts.json) {
        printJson({
          plan_id: id,
          format,
          out: path,
          actions: rows,
          action_count: report.totalActions,
          truncated: rows < report.totalActions,
          bytes: out.bytes,
        });
        return;
      }
      say(
        opts,
        styleFor().status(
          'ok',
          `Report of plan #${id} (${format}, ${countOf(rows, 'action')}${rows < report.totalActions ? ` of ${formatCount(report.totalActions)}` : ''}, ${formatBytes(out.bytes)}) written to ${path}`,
        ),
      );
    });
  });
}
