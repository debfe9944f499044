/** Questions asked on the terminal before a run changes files (stderr, so stdout stays clean). */
import { createInterface } from 'node:readline/promises';
import type { PlanRow } from '../../catalog/plans.js';
import { actionLabel, planMode } from '../../conductor/mode.js';
import { countOf, formatBytes, formatCount } from '../../format.js';

/** Print `intro`, ask `question` [y/N]; only y or yes agrees. */
async function askYesNo(intro: string, question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(intro);
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** Before `conductor execute` (without --force, on a terminal). */
export function confirmExecute(plan: PlanRow, hardlinks: number): Promise<boolean> {
  const mode = planMode(plan);
  return askYesNo(
    `Plan #${plan.id} "${plan.name}": ${countOf(hardlinks, `${actionLabel(mode, 'HARDLINK')} action`)}, ${formatBytes(plan.bytesSaveable)} to save.\n`,
    `Replace these files with ${mode === 'reflink' ? 'copy-on-write clones' : 'hardlinks'} now? [y/N] `,
  );
}

/** Before `conductor undo` (without --force, on a terminal). */
export function confirmUndo(plan: PlanRow, paths: number): Promise<boolean> {
  return askYesNo(
    `Plan #${plan.id} "${plan.name}": ${formatCount(paths)} linked paths get their own copies back (using that much space again).\n`,
    'Undo this plan now? [y/N] ',
  );
}
