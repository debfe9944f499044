/**
 * `conductor analyze`, with `--rescan` first when asked: recover what an interrupted execute
 * left (as every scan does) → rescan the recorded roots in question → analyze. One process for
 * the whole look, so that "what could I save now?" costs one start, not two. Nothing is
 * printed here: progress goes out as events and the outcome as an `AnalyzeRunResult`.
 */
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import { UserError } from '../errors.js';
import { runScan, type ScanProgress, type ScanSummary } from '../scan/scanner.js';
import { analyze, type Analysis, type AnalyzeOptions } from './analyze.js';
import { rescanTargets, type Rescan } from './rescan.js';
import { recoverBeforeScan, type RunEvent } from './run.js';
import { Scope } from './scope.js';

export interface AnalyzeRunRequest {
  readonly catalog: Catalog;
  readonly analyze: AnalyzeOptions;
  readonly rescan: Rescan;
  readonly shouldStop: () => boolean;
  readonly onProgress?: (p: ScanProgress) => void;
}

/** What happens along the way, in order (only with a rescan). */
export type AnalyzeRunEvent =
  | RunEvent
  | { readonly kind: 'root-missing'; readonly path: Buffer }
  | { readonly kind: 'not-here'; readonly device: DeviceRow }
  | { readonly kind: 'rescanned'; readonly roots: readonly Buffer[]; readonly scan: ScanSummary };

export type AnalyzeRunResult =
  /** Stopped (Ctrl-C) during the rescan: what it read is kept, nothing is analyzed. */
  | { readonly kind: 'scan-interrupted'; readonly scan: ScanSummary }
  | {
      readonly kind: 'analyzed';
      readonly scan: ScanSummary | undefined;
      readonly analysis: Analysis;
    };

export async function analyzeRun(
  req: AnalyzeRunRequest,
  onEvent: (e: AnalyzeRunEvent) => void,
): Promise<AnalyzeRunResult> {
  const { catalog } = req;
  let scan: ScanSummary | undefined;
  if (req.rescan.kind === 'rescan') {
    await recoverBeforeScan(catalog, onEvent);
    const targets = await rescanTargets(catalog, {
      device: req.analyze.device,
      scope: req.analyze.scope ?? Scope.all,
    });
    for (const device of targets.notHere) onEvent({ kind: 'not-here', device });
    for (const path of targets.missing) onEvent({ kind: 'root-missing', path });
    if (targets.roots.length === 0) {
      const { device, scope } = req.analyze;
      const where = device ? ` on ${device.alias}` : scope?.active ? ' in the scope' : '';
      throw new UserError(
        `--rescan: nothing to rescan${where} (${targets.why}); scan with 'hashall scan PATH', or leave --rescan out to analyze the catalog as it is`,
      );
    }
    scan = await runScan(catalog, {
      roots: targets.roots,
      exclude: req.rescan.exclude,
      oneFileSystem: req.rescan.oneFileSystem,
      shouldStop: req.shouldStop,
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
    });
    onEvent({ kind: 'rescanned', roots: targets.roots, scan });
    if (scan.interrupted) return { kind: 'scan-interrupted', scan };
  }
  return { kind: 'analyzed', scan, analysis: await analyze(catalog, req.analyze) };
}
