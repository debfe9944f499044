/** What every command shares: the global options of DESIGN §8 and the output channels. */
import type { Command } from 'commander';
import { openPort, type OpenOptions } from '../catalog/open-port.js';
import type { Catalog } from '../catalog/port.js';

export interface GlobalOptions {
  catalog?: string;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

/** Add --catalog, --json, --quiet and --debug to a command (they follow the command name). */
export function withGlobals(cmd: Command): Command {
  return cmd
    .option('--catalog <path>', 'catalog file (default: $HASHALL_CATALOG or ~/.hashall/catalog.db)')
    .option('--json', 'print one JSON document on stdout')
    .option('-q, --quiet', 'print nothing but errors (and the JSON document with --json)')
    .option('--debug', 'show stack traces for internal errors');
}

/** The catalog as the port: commands never see a database handle (README "Architecture"). */
export function open(opts: GlobalOptions, o: OpenOptions = {}): Promise<Catalog> {
  return openPort(opts.catalog, o);
}

export function printJson(doc: unknown): void {
  process.stdout.write(
    JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n',
  );
}

export function say(opts: GlobalOptions, text: string): void {
  if (!opts.quiet && !opts.json) process.stdout.write(text + '\n');
}

export function warn(opts: GlobalOptions, text: string): void {
  if (!opts.quiet) process.stderr.write(text + '\n');
}
