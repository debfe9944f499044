/**
 * A cap on V8's young generation for the command line (main.ts starts it first thing, so it
 * holds for the installed command, the tests, the bench and scheduled runs alike).
 *
 * V8 grows the young generation (the "new space", where objects are born) by doubling it each
 * time enough objects have survived since the last growth, up to a maximum fixed when the
 * process starts. That maximum differs by Node line: the new space reaches 32 MB on Node 20
 * and 22, 128 MB on Node 24 and 64 MB on Node 26 for the same program. A long scan or execute
 * creates short-lived objects for every file, so it grows to the maximum: on Node 24 an
 * execute of the reference tree peaked at 270 MB RSS against 194 MB on Node 20 (README
 * "Performance → Peak memory on each Node line").
 *
 * The maximum can only be set before V8 starts (`node --max-semi-space-size`), which an
 * installed command cannot do without a second process start on every run. What V8 does read
 * at every growth is `--semi-space-growth-factor`: set to 1, a growth keeps the size it has.
 * So a timer looks at the new space's capacity and holds the factor at 1 while the new space is
 * at the cap, 2 (V8's default) while it is below (V8 may shrink it when allocation slows down,
 * and it must then be able to grow again). A growth between two looks can overshoot by one
 * doubling; the next look stops the one after. V8 flags are per process: worker threads share
 * the factor, so they do not grow their own new space while the main thread's is at the cap
 * (their work is in buffers outside the JS heap; measured in README).
 *
 * The look reads the capacity V8 allocates up to (`space_used_size + space_available_size`, one
 * semispace), not `space_size` (the memory committed for both). Up to Node 24 a growth commits
 * both semispaces at once and the two agree; Node 26's V8 (14.x) commits the pages as allocation
 * reaches them, so `space_size` reaches the cap one or more scavenges (106-449 ms into an
 * execute, 42 runs) after the capacity did. A look at `space_size` left the factor at 2 for that
 * long, and a growth in it took the new space to 32 MB for the rest of the run (held there by
 * factor 1): an execute's median was 26.7-31 MB in some runs (once in CI, 2 of 78 by hand), as
 * without the cap. Looking at the capacity, the factor is held 0-3 ms after the growth.
 */
import v8 from 'node:v8';

/** New-space size (both semispaces) at which growth stops: 8 MB semispaces. */
export const YOUNG_CAP_BYTES = 16 * 1024 * 1024;

/** How often the size is looked at. A look costs a few microseconds. */
const LOOK_EVERY_MS = 10;

/**
 * The Node majors on which the flag is known to exist and to be read at each growth: checked
 * on 20, 22, 24 and 26 (test/e2e/young-generation.test.ts runs on two of them in CI); the odd
 * lines between carry V8 versions between those. On a line outside them V8 might not know the
 * flag, and setting an unknown flag prints an error on every run: the cap is then left off.
 */
const CHECKED_MAJORS = { lowest: 20, highest: 26 } as const;

/**
 * V8's flags that set the young generation's size, in either spelling V8 accepts (`-` or `_`);
 * a user who passes one is left in charge.
 */
const USER_FLAG =
  /--(max[-_]semi[-_]space[-_]size|min[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor)\b/;

export type YoungGenerationCap =
  | { readonly kind: 'capped'; readonly capBytes: number }
  | { readonly kind: 'left'; readonly reason: 'node-line' | 'user-flag' };

/** Whether the cap applies to a process started with these: the decision, without side effects. */
export function capDecision(input: {
  nodeVersion: string;
  execArgv: readonly string[];
  nodeOptions: string | undefined;
}): 'cap' | 'node-line' | 'user-flag' {
  const major = Number(/^v(\d+)\./.exec(input.nodeVersion)?.[1]);
  if (!(major >= CHECKED_MAJORS.lowest && major <= CHECKED_MAJORS.highest)) return 'node-line';
  if (USER_FLAG.test(`${input.execArgv.join(' ')} ${input.nodeOptions ?? ''}`)) return 'user-flag';
  return 'cap';
}

/**
 * Whether the new space is at `capBytes`. Its capacity is counted for both semispaces, and a
 * quarter below the cap still counts: V8 sizes semispaces in doublings, the next one down is
 * half the cap, and the allocatable part of a semispace is a little less than its size (page
 * headers, 1.7% on Node 20; pinned pages can add a little during a scavenge on 24 and 26).
 * `space_size` at the cap counts too, as it always did.
 */
export function newSpaceAtCap(
  space: Pick<v8.HeapSpaceInfo, 'space_size' | 'space_used_size' | 'space_available_size'>,
  capBytes: number,
): boolean {
  const capacity = 2 * (space.space_used_size + space.space_available_size);
  return capacity >= 0.75 * capBytes || space.space_size >= capBytes;
}

function newSpace(): v8.HeapSpaceInfo | undefined {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
}

/** Start holding the young generation at `capBytes`, for the rest of this process. */
export function capYoungGeneration(capBytes: number = YOUNG_CAP_BYTES): YoungGenerationCap {
  const decision = capDecision({
    nodeVersion: process.version,
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS,
  });
  if (decision !== 'cap') return { kind: 'left', reason: decision };
  let held = false;
  const look = (): void => {
    const space = newSpace();
    const atCap = space !== undefined && newSpaceAtCap(space, capBytes);
    if (atCap === held) return;
    held = atCap;
    v8.setFlagsFromString(`--semi-space-growth-factor=${atCap ? 1 : 2}`);
  };
  const timer = setInterval(look, LOOK_EVERY_MS);
  // The timer must not keep a finished command's process alive.
  timer.unref();
  return { kind: 'capped', capBytes };
}
