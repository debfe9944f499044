/** `hashall export [--device PATH] --format json|jsonl|csv --out FILE`. */
import { Command, InvalidArgumentError } from 'commander';
import { extname, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { EXPORT_FORMATS, writeExport, type ExportFormat } from '../../report/export.js';
import { openOutput, OutputClosed } from '../../report/output.js';
import { printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { withReadCatalog } from '../read-catalog.js';
import { resolveWholeDevice } from '../../conductor/device-scope.js';
import { argBytes } from '../raw-argv.js';
import { countOf, formatBytes } from '../../format.js';
import { styleFor } from '../style.js';
import { stopRequested } from '../signals.js';
import { hostView } from '../host-view.js';

function parseFormat(v: string): ExportFormat {
  const f = v.toLowerCase();
  if (!(EXPORT_FORMATS as readonly string[]).includes(f))
    throw new InvalidArgumentError(`use one of: ${EXPORT_FORMATS.join(', ')}`);
  return f as ExportFormat;
}

function formatFor(out: string, given: ExportFormat | undefined): ExportFormat {
  if (given) return given;
  const ext = extname(out).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.json' || ext === '.jsonl' || ext === '.ndjson') return 'json';
  throw new UserError(`give --format json|csv (it cannot be told from '${out}')`);
}

interface ExportOpts extends GlobalOptions {
  device?: string;
  format?: ExportFormat;
  out: string;
}

export function registerExport(program: Command): void {
  withGlobals(
    program
      .command('export')
      .description('write every catalogued file as JSON Lines or CSV')
      .option('--device <path>', 'only this filesystem (a path on it, or its alias)')
      .option(
        '--format <format>',
        "json (JSON Lines: one object per line; 'jsonl' is the same) | csv (default: from --out's extension)",
        parseFormat,
      )
      .requiredOption('--out <file>', "the file to write; '-' is standard output"),
  ).action(async (opts: ExportOpts) => {
    const format = formatFor(opts.out, opts.format);
    await withReadCatalog(opts, async (catalog) => {
      const device =
        opts.device === undefined
          ? undefined
          : await resolveWholeDevice(
              catalog,
              argBytes(opts.device),
              'export lists whole filesystems (filter its output, e.g. with jq, for one directory)',
            );
      const out = await openOutput(opts.out, {
        shouldStop: stopRequested,
        protect: [catalog.location],
      });
      let rows: number;
      try {
        rows = await writeExport(catalog, out, {
          format,
          deviceId: device?.id,
          view: await hostView(catalog),
        });
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
          format: format === 'csv' ? 'csv' : 'jsonl',
          out: path,
          files: rows,
          bytes: out.bytes,
          device: device?.alias ?? null,
        });
        return;
      }
      say(
        opts,
        styleFor().status(
          'ok',
          `Exported ${countOf(rows, 'file')}${device ? ` of ${device.alias}` : ''} (${format === 'csv' ? 'CSV' : 'JSON Lines'}, ${formatBytes(out.bytes)}) to ${path}`,
        ),
      );
    });
  });
}
