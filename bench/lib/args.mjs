// Command-line flags of bench/run.mjs.

import process from 'node:process';
import { DEFAULT_TIMEOUT_S } from './config.mjs';

export function usage(msg) {
  if (msg) process.stderr.write(`bench: ${msg}\n`);
  process.stderr.write(
    'usage: node bench/run.mjs [--quick] [--runs N] [--million] [--timeout S] [--baseline REF]\n' +
      '  --quick      small tree (3,000 files, 60 MiB), 1 run; writes bench/.cache/quick-*\n' +
      '  --runs N     timed runs per command after one warm-up (default 3; 1 with --quick)\n' +
      '  --million    also scan a 1,000,000-file tree (time + peak RSS; slow to generate)\n' +
      `  --timeout S  cut a row off after S seconds of timed work (default ${DEFAULT_TIMEOUT_S});\n` +
      '               a row that hits it is reported as "> S" and not repeated\n' +
      '  --baseline REF  also run the hashall rows with the build of git commit REF, interleaved,\n' +
      '               and report this build against it (e.g. --baseline main)\n',
  );
  process.exit(msg ? 2 : 0);
}

export function parseArgs(argv) {
  const o = {
    quick: false,
    million: false,
    runs: undefined,
    timeout: DEFAULT_TIMEOUT_S,
    baseline: undefined,
  };
  const num = (a, i) => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      usage(`${a.split('=')[0]} needs a positive integer, got ${v}`);
    return [n, a.includes('=') ? i : i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--million') o.million = true;
    else if (a === '--runs' || a.startsWith('--runs=')) [o.runs, i] = num(a, i);
    else if (a === '--timeout' || a.startsWith('--timeout=')) [o.timeout, i] = num(a, i);
    else if (a === '--baseline' || a.startsWith('--baseline=')) {
      o.baseline = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!o.baseline) usage('--baseline needs a git commit (e.g. main, HEAD~3)');
    } else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument: ${a}`);
  }
  o.runs ??= o.quick ? 1 : 3;
  return o;
}
