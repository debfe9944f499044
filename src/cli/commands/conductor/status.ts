/** `conductor status`: devices, files, hardlink statistics, savings, pending candidates. */
import { Command } from 'commander';
import { status } from '../../../conductor/analyze.js';
import { jsonPath } from '../../../paths.js';
import { open, printJson, say, withGlobals, type GlobalOptions } from '../../context.js';
import { countOf, formatBytes, formatCount, formatTime } from '../../../format.js';
import { styleFor } from '../../style.js';
import { deviceJson } from '../devices.js';
import { deviceOption } from './args.js';
import { deviceLabel, hostPathLabel } from '../../../device-label.js';
import { hostView } from '../../host-view.js';

export function registerStatus(conductor: Command): void {
  withGlobals(
    conductor
      .command('status')
      .description('devices, files, hardlink statistics, potential savings, pending candidates')
      .option('--device <path>', 'only this filesystem (a path on it, or its alias)'),
  ).action(async (opts: GlobalOptions & { device?: string }) => {
    const catalog = await open(opts, { readonly: true });
    try {
      const device = await deviceOption(catalog, opts.device);
      const s = await status(catalog, device);
      const view = await hostView(catalog);
      if (opts.json) {
        printJson({
          devices: s.devices.map((d) => deviceJson(d.device, d.usage, view)),
          files: s.files,
          inodes: s.inodes,
          bytes: s.bytes,
          hardlinks: {
            shared_paths: s.hardlinks.sharedPaths,
            inodes: s.hardlinks.inodes,
            bytes_saved: s.hardlinks.bytesSaved,
          },
          bytes_saveable: s.bytesSaveable,
          groups: s.groups,
          pending: s.pending,
          last_scans: s.lastScans.map((r) => ({
            ...jsonPath('root', r.root),
            status: r.status,
            finished_at: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
            host: r.host?.hostname ?? null,
          })),
        });
        return;
      }
      const lines = [styleFor().deco('📊', 'Registered Devices:')];
      for (const d of s.devices) {
        lines.push(
          `  ${deviceLabel(d.device, view)}  (${d.device.alias}, ${d.device.fsType}) - ${countOf(d.usage?.files ?? 0, 'file')}, ${formatBytes(d.usage?.bytes ?? 0)}`,
        );
      }
      lines.push(
        '',
        `Files:              ${countOf(s.files, 'path')}, ${countOf(s.inodes, 'inode')}`,
        `Total space:        ${formatBytes(s.bytes)}`,
        `Hardlinks:          ${countOf(s.hardlinks.sharedPaths, 'path')} share ${countOf(s.hardlinks.inodes, 'inode')}, already saving ${formatBytes(s.hardlinks.bytesSaved)}`,
        `Potential savings:  ${formatBytes(s.bytesSaveable)} in ${countOf(s.groups, 'group')}`,
        `Pending candidates: ${formatCount(s.pending)}`,
        '',
        'Last scan per root:',
        ...s.lastScans.map(
          (r) =>
            `  ${hostPathLabel(r.root, r.host, view)}  ${r.status}  ${formatTime(r.finishedAt ?? r.startedAt)}`,
        ),
      );
      say(opts, lines.join('\n'));
    } finally {
      await catalog.close();
    }
  });
}
