/** A scan's warnings and a rescan's one-line summary, as scan, auto-execute and analyze say them. */
import { displayPath } from '../../display-path.js';
import { countOf, formatCount } from '../../format.js';
import type { ScanSummary } from '../../scan/scanner.js';
import { warn, type GlobalOptions } from '../context.js';
import { styleFor } from '../style.js';

/**
 * What a scan has to say on stderr: an earlier scan it found killed, each error it kept, and
 * how many more it only counted.
 */
export function warnScan(opts: GlobalOptions, scan: ScanSummary): void {
  for (const r of scan.recovered) {
    warn(
      opts,
      styleFor(process.stderr).deco(
        '🔧',
        `An earlier scan of ${displayPath(r.root)} (started ${new Date(r.startedAt).toISOString()}) was killed before it finished; what it recorded was kept, and it marked nothing deleted.`,
      ),
    );
  }
  for (const e of scan.errors) warn(opts, `hashall: warning: ${displayPath(e.path)}: ${e.error}`);
  if (scan.errorCount > scan.errors.length) {
    warn(
      opts,
      `hashall: warning: ${countOf(scan.errorCount - scan.errors.length, 'more error')} not shown`,
    );
  }
}

/** A recorded root a rescan could not reach now. */
export function warnRootMissing(opts: GlobalOptions, path: Buffer): void {
  warn(opts, `hashall: warning: scan root ${displayPath(path)} is gone or not mounted; skipped`);
}

/**
 * "🔄 Rescanned ROOTS: N files, N new, N changed, N deleted[, N errors]", or for a rescan stopped
 * by Ctrl-C, "Rescan interrupted: ROOTS: …" and what the command did not do (`skipped`).
 */
export function rescannedLine(
  roots: readonly Buffer[],
  scan: ScanSummary,
  skipped: 'nothing analyzed' | 'nothing planned',
): string {
  const figures = `${roots.map((r) => displayPath(r)).join(', ')}: ${countOf(scan.files, 'file')}, ${formatCount(scan.new)} new, ${formatCount(scan.changed)} changed, ${formatCount(scan.deleted)} deleted${scan.errorCount ? `, ${countOf(scan.errorCount, 'error')}` : ''}`;
  const st = styleFor();
  if (scan.interrupted)
    return `${st.status('warning', `Rescan interrupted: ${figures}`)}\n   What it read is kept; ${skipped}. Run the command again to finish.`;
  return `${st.deco('🔄', 'Rescanned')} ${figures}`;
}
