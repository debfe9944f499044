/**
 * A line for `--debug` from any layer (a fallback taken, the same figures reached more slowly):
 * printed on stderr, or through the sink the command line sets while it draws a status line
 * (cli/status-line.ts), which prints it above that line instead of into it.
 */

let sink: ((line: string) => void) | undefined;

/** Where debug lines go while a status line is drawn; undefined: straight to stderr. */
export function setDebugSink(fn: ((line: string) => void) | undefined): void {
  sink = fn;
}

/** Print `hashall: debug: TEXT` when the command runs with --debug. */
export function debugNote(text: string): void {
  if (!process.argv.includes('--debug')) return;
  const line = `hashall: debug: ${text}\n`;
  if (sink) sink(line);
  else process.stderr.write(line);
}
