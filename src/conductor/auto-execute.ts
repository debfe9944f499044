/**
 * `conductor auto-execute`: (rescan,) plan, and execute without asking only when the plan saves
 * at least the threshold. The decision (whether to run) lives here, the roots a rescan reads in
 * rescan.ts, and the pipeline itself in auto-execute-run.ts.
 */

export type Decision =
  | { readonly run: true }
  | { readonly run: false; readonly reason: string; readonly why: 'below-threshold' | 'nothing' };

/** Run only when the plan has something to do and saves at least `minSavings` bytes. */
export function decide({
  bytesSaveable,
  replacements,
  minSavings,
}: {
  readonly bytesSaveable: number;
  readonly replacements: number;
  readonly minSavings: number;
}): Decision {
  if (replacements === 0)
    return { run: false, why: 'nothing', reason: 'the plan has nothing to replace' };
  if (bytesSaveable < minSavings)
    return {
      run: false,
      why: 'below-threshold',
      reason: `the plan would save ${bytesSaveable} bytes, below --min-savings ${minSavings}`,
    };
  return { run: true };
}
