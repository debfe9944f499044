/**
 * The `conductor auto-execute` pipeline, for cron and systemd timers: under one executor run
 * (lock → recover → log, conductor/run.ts) rescan if asked → plan → compare with the threshold
 * → execute, or discard the plan and say why. Nothing is printed here: progress goes out as
 * `AutoEvent`s and the outcome as an `AutoResult`; the CLI renders both. The plan itself is run
 * by the caller's `execute` (the CLI's runner, which renders each action as execute does).
 */
import type { Catalog } from '../catalog/port.js';
import type { DeviceRow } from '../catalog/devices.js';
import type { PlanRow } from '../catalog/plans.js';
import { UserError } from '../errors.js';
import { displayPath } from '../display-path.js';
import { runScan, type ScanSummary } from '../scan/scanner.js';
import { decide, type Decision } from './auto-execute.js';
import { scanRootsOf, type Rescan } from './rescan.js';
import type { ExecuteSummary, Verify } from './execute/index.js';
import type { Filters } from './filters.js';
import { keepRuleText, type KeepRule } from './keep-rules.js';
import { actionLabel, planMode, type Mode } from './mode.js';
import { createPlan, type PlanResult } from './plan.js';
import type { RunLog } from './run-log.js';
import { withExecutorRun, type RunEvent } from './run.js';
import { describeScope, type Scope } from './scope.js';

export interface AutoRequest {
  readonly catalog: Catalog;
  readonly device: DeviceRow;
  readonly scope: Scope;
  readonly minSavings: number;
  readonly rescan: Rescan;
  readonly mode: Mode;
  readonly verify: Verify;
  readonly keep: readonly KeepRule[];
  readonly filters: Filters;
  readonly shouldStop: () => boolean;
}

type Unsupported = NonNullable<PlanResult['reflink']>['unsupported'][number];

/** What happens along the way, in order. */
export type AutoEvent =
  | RunEvent
  | { readonly kind: 'started'; readonly where: string }
  | { readonly kind: 'root-missing'; readonly path: Buffer }
  | { readonly kind: 'rescanned'; readonly roots: readonly Buffer[]; readonly scan: ScanSummary }
  | { readonly kind: 'no-reflinks'; readonly unsupported: Unsupported }
  | { readonly kind: 'executing'; readonly plan: PlanRow; readonly replacements: number };

/** Where the plan came from and what it holds: every outcome but a stopped rescan has one. */
export interface Planned {
  readonly plan: PlanRow;
  /** HARDLINK (REFLINK) actions. */
  readonly replacements: number;
  readonly unsupported: readonly Unsupported[];
  readonly decision: Decision;
}

export interface AutoCommon {
  readonly scan: ScanSummary | undefined;
  /** Recorded roots not reachable now (skipped). */
  readonly missing: readonly Buffer[];
  readonly logPath: string;
}

export type AutoResult<R> =
  | (AutoCommon & { readonly kind: 'scan-interrupted' })
  | (AutoCommon & { readonly kind: 'not-run'; readonly planned: Planned })
  | (AutoCommon & { readonly kind: 'ran'; readonly planned: Planned; readonly execution: R });

/** Runs the plan (the caller holds the lock, has recovered and logged). */
export type PlanRunner<R extends { summary: ExecuteSummary }> = (x: {
  readonly plan: PlanRow;
  readonly replacements: number;
  readonly log: RunLog;
}) => Promise<R>;

/** A log name from the alias: letters, digits and `_.-` only. */
function logName(device: DeviceRow): string {
  return `auto-execute-${device.alias.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

export async function autoExecute<R extends { summary: ExecuteSummary }>(
  req: AutoRequest,
  execute: PlanRunner<R>,
  onEvent: (e: AutoEvent) => void,
): Promise<AutoResult<R>> {
  const { catalog, device, scope, keep, filters, minSavings } = req;
  const scopeText = describeScope(scope.entries);
  const rescanning = req.rescan.kind === 'rescan';
  // One executor per device, for the whole run: two overlapping timers cannot both act.
  return withExecutorRun(
    {
      catalog,
      planId: 0,
      devices: [device.id],
      log: {
        name: logName(device),
        header: `auto-execute ${displayPath(device.mountPoint)} (${device.alias})${scopeText ? ` scope ${scopeText}` : ''} min-savings ${minSavings} mode ${req.mode} keep ${keep.map(keepRuleText).join(', ')}${filters.active ? ` filters ${JSON.stringify(filters.toJson())}` : ''} verify ${req.verify}${rescanning ? ' rescan' : ''} pid ${process.pid}`,
      },
      onEvent,
    },
    async (run): Promise<AutoResult<R>> => {
      const { log } = run;
      onEvent({ kind: 'started', where: scopeText ?? displayPath(device.mountPoint) });
      let scan: ScanSummary | undefined;
      let missing: Buffer[] = [];
      if (req.rescan.kind === 'rescan') {
        const roots = await scanRootsOf(catalog, device, scope);
        missing = roots.missing;
        for (const m of missing) {
          onEvent({ kind: 'root-missing', path: m });
          log.write(`scan root ${displayPath(m)} is gone or not mounted; skipped`);
        }
        if (roots.roots.length === 0) {
          throw new UserError(
            `--rescan: no scan root of ${device.alias} is reachable now (${missing.length ? 'all are gone or unmounted' : 'it was only ever scanned as part of another filesystem'}); scan it with 'hashall scan PATH'`,
          );
        }
        scan = await runScan(catalog, {
          roots: roots.roots,
          exclude: req.rescan.exclude,
          oneFileSystem: req.rescan.oneFileSystem,
          shouldStop: req.shouldStop,
        });
        log.write(
          `rescan ${roots.roots.map((r) => displayPath(r)).join(', ')}: ${scan.files} files, ${scan.new} new, ${scan.changed} changed, ${scan.deleted} deleted, ${scan.errorCount} errors${scan.interrupted ? ', interrupted' : ''}`,
        );
        onEvent({ kind: 'rescanned', roots: roots.roots, scan });
        if (scan.interrupted) {
          log.write('interrupted during the rescan: nothing planned');
          return { kind: 'scan-interrupted', scan, missing, logPath: log.path };
        }
      }
      const common: AutoCommon = { scan, missing, logPath: log.path };

      const result = await createPlan(catalog, {
        name: `auto-execute ${device.alias} ${new Date().toISOString()}`,
        device,
        scope,
        sameDevice: true,
        crossDevice: false,
        keep,
        filters,
        mode: req.mode,
      });
      const { plan } = result;
      const replacements = (await catalog.execution.replacements(plan.id)).actions;
      const unsupported = result.reflink?.unsupported ?? [];
      for (const u of unsupported) {
        onEvent({ kind: 'no-reflinks', unsupported: u });
        log.write(
          `No reflinks on ${displayPath(u.device.mountPoint)} (${u.device.fsType}): ${u.reason}; nothing planned there`,
        );
      }
      log.write(
        `plan #${plan.id}: ${replacements} ${actionLabel(planMode(plan), 'HARDLINK')} actions, ${plan.bytesSaveable} bytes saveable (threshold ${minSavings})`,
      );
      const decision = decide({ bytesSaveable: plan.bytesSaveable, replacements, minSavings });
      const planned: Planned = { plan, replacements, unsupported, decision };
      if (!decision.run) {
        // A plan that will not run is not kept: a scheduled job would otherwise pile them up.
        await catalog.plans.discardPending(plan.id);
        log.write(`nothing done: ${decision.reason}; the plan was discarded`);
        return { ...common, kind: 'not-run', planned };
      }
      await run.lockPlan(plan.id); // name the plan in the lock we hold
      onEvent({ kind: 'executing', plan, replacements });
      const execution = await execute({ plan, replacements, log });
      return { ...common, kind: 'ran', planned, execution };
    },
  );
}
