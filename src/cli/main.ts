#!/usr/bin/env node
/**
 * The command line's entry file (dist/cli/main.js; the installed `hashall`, bin.js, and
 * scheduled jobs run it). It runs the program, bundled by the build into one CommonJS file next
 * to it (dist/cli/program.cjs), through V8's code cache (code-cache.ts), then its main().
 */
import { fileURLToPath } from 'node:url';
import { EXIT } from '../errors.js';
import { loadBundle } from './code-cache.js';

interface Program {
  main(argv: string[]): Promise<void>;
}

const bundle = fileURLToPath(new URL('./program.cjs', import.meta.url));
const debug = process.argv.includes('--debug');
// Under --debug the program loads through Node's own loader, which maps a stack trace's
// frames back to the src/ files and lines.
if (debug) process.setSourceMapsEnabled(true);
let program: Program | undefined;
try {
  program = loadBundle(bundle, { debug }).exports as Program;
} catch (error) {
  // A file of the installation missing or unreadable (the bundle, a package it requires).
  if (debug) throw error;
  const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
  process.stderr.write(
    `hashall: internal error: cannot load ${bundle}: ${why}\n` +
      'hashall: the installation looks incomplete; reinstall hashall, or run again with --debug\n',
  );
  process.exitCode = EXIT.partial;
}
if (program) await program.main(process.argv);
