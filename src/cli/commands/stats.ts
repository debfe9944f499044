import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { jsonPath } from '../../paths.js';
import { printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { withReadCatalog } from '../read-catalog.js';
import { formatBytes, formatCount, formatTime } from '../../format.js';
import { styleFor } from '../style.js';
import { hostPathLabel } from '../../device-label.js';
import { hostView } from '../host-view.js';

export function registerStats(program: Command): void {
  withGlobals(
    program
      .command('stats')
      .description('catalog totals, hash coverage and the last scan of each root')
      .option(
        '--check',
        'verify the whole catalog first (PRAGMA integrity_check; reads every page)',
      ),
  ).action(async (opts: GlobalOptions & { check?: boolean }) => {
    await withReadCatalog(opts, async (cat) => {
      if (opts.check) {
        const problems = await cat.stats.integrityProblems({ max: 10 });
        if (problems.length) {
          throw new UserError(
            `catalog ${cat.location} is damaged (${problems.slice(0, 3).join('; ')}); restore it from a backup`,
          );
        }
      }
      const s = await cat.stats.catalog();
      const pending = await cat.hashing.pending();
      const aliases = new Map((await cat.devices.list()).map((d) => [d.id, d.alias]));
      const scans = await cat.scans.lastPerRoot();
      const view = await hostView(cat);
      // Each host's roots, named host:root once the catalog knows several (README "Several hosts").
      const root = (r: (typeof scans)[number]) => hostPathLabel(r.root, r.host, view);
      if (opts.json) {
        printJson({
          catalog: cat.location,
          devices: s.devices,
          files: s.activeFiles,
          active_files: s.activeFiles,
          deleted_files: s.deletedFiles,
          inodes: s.activeInodes,
          bytes: s.activeBytes,
          allocated_bytes: s.allocatedBytes,
          empty_files: s.emptyFiles,
          directories: s.dirs,
          prefix_hashed_files: s.prefixHashed,
          suffix_hashed_files: s.suffixHashed,
          sha256_files: s.fullHashed,
          pending,
          scans: s.scans,
          hosts: view.hosts,
          last_scans: scans.map((r) => ({
            ...jsonPath('root', r.root),
            scan_id: r.scanId,
            device: r.deviceId === null ? null : (aliases.get(r.deviceId) ?? null),
            status: r.status,
            host: r.host?.hostname ?? null,
            machine_id: r.host?.machineId ?? null,
            started_at: new Date(r.startedAt).toISOString(),
            finished_at: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
          })),
        });
        return;
      }
      const pct = (n: number) =>
        s.activeFiles ? `${((100 * n) / s.activeFiles).toFixed(1)}%` : '0%';
      const lines = [
        styleFor().deco('📊', `Catalog ${cat.location}`),
        ...(view.hosts > 1 ? [`   Hosts:        ${formatCount(view.hosts)}`] : []),
        `   Devices:      ${formatCount(s.devices)}`,
        `   Files:        ${formatCount(s.activeFiles)} active (${formatCount(s.activeInodes)} inodes), ${formatCount(s.deletedFiles)} deleted rows kept`,
        `   Bytes:        ${formatBytes(s.activeBytes)} apparent, ${formatBytes(s.allocatedBytes)} allocated (each inode once)`,
        `   Directories:  ${formatCount(s.dirs)}`,
        `   Hashes:       ${formatCount(s.prefixHashed)} prefix (${pct(s.prefixHashed)}), ${formatCount(s.suffixHashed)} with the last 4 KiB (${pct(s.suffixHashed)}), ${formatCount(s.fullHashed)} SHA-256 (${pct(s.fullHashed)})`,
        `   Pending:      ${formatCount(pending)} candidate inodes without the hash they need`,
        '',
        'Last scan per root:',
        ...scans.map(
          (r) =>
            `   ${root(r)}  ${r.status}  ${formatTime(r.finishedAt ?? r.startedAt)}${r.deviceId !== null ? `  (${aliases.get(r.deviceId)})` : ''}`,
        ),
      ];
      say(opts, lines.join('\n'));
    });
  });
}
