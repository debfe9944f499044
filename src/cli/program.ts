/**
 * The hashall command line: parses, dispatches and renders. Logic lives in the modules the
 * commands call, so tests can reach it without spawning a process. The build bundles this
 * module and everything it imports into dist/cli/program.cjs, which the entry (main.ts) runs.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { EXIT, UserError } from '../errors.js';
import { catalogFailure } from '../catalog/backend.js';
import { registerCatalog } from './commands/catalog.js';
import { registerConductor } from './commands/conductor/index.js';
import { registerDevices } from './commands/devices.js';
import { registerDupes } from './commands/dupes.js';
import { registerExport } from './commands/export.js';
import { registerHosts } from './commands/hosts.js';
import { registerScan } from './commands/scan.js';
import { registerStats } from './commands/stats.js';
import { errorReported, installOutputGuards, installSignalHandlers } from './signals.js';
import { capYoungGeneration } from './young-generation.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function buildProgram(): Command {
  const program = new Command('hashall')
    .description(
      'One catalog of every file on every filesystem; safe, reviewed hardlink deduplication.',
    )
    .version(pkg.version)
    // Usage errors are one line, like every other error: 'hashall: error: …'.
    .configureOutput({
      outputError: (str, write) =>
        write(`hashall: ${str.trim().replace(/\n+/g, ' ')} (see --help)\n`),
    })
    .exitOverride();
  registerScan(program);
  registerDevices(program);
  registerStats(program);
  registerConductor(program);
  registerExport(program);
  registerDupes(program);
  registerHosts(program);
  registerCatalog(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  installSignalHandlers();
  installOutputGuards();
  // Node 24 and 26 let V8's young generation grow 2-4 times larger than Node 20 does.
  capYoungGeneration();
  const debug = argv.includes('--debug');
  try {
    await buildProgram().parseAsync(argv);
  } catch (caught) {
    let err = caught;
    if (err instanceof CommanderError) {
      // Help and version exit 0; commander has already printed its message.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    // A catalog failure in the middle of a command (SQLite: disk full, lock, I/O; PostgreSQL:
    // the server went away): one clear line.
    if (!(err instanceof UserError)) {
      const i = argv.indexOf('--catalog');
      const eq = argv.find((a) => a.startsWith('--catalog='));
      const given = i >= 0 ? argv[i + 1] : eq?.slice('--catalog='.length);
      err = catalogFailure(given, err) ?? err;
    }
    errorReported();
    if (err instanceof UserError) {
      process.stderr.write(`hashall: error: ${err.message}\n`);
      if (debug) process.stderr.write(`${err.stack}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`hashall: internal error: ${msg}\n`);
    if (debug) process.stderr.write(`${err instanceof Error ? err.stack : ''}\n`);
    else
      process.stderr.write('hashall: run again with --debug for details, and please report it\n');
    process.exitCode = EXIT.partial;
  }
}
