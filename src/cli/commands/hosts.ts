import type { Command } from 'commander';
import { openHostCatalog } from '../../catalog/host-open.js';
import type { HostRow } from '../../catalog/host-port.js';
import { hostIdentity } from '../../fs/host.js';
import { printJson, say, withGlobals, type GlobalOptions } from '../context.js';
import { formatTime } from '../../format.js';
import { table } from '../format.js';

function hostJson(h: HostRow, self: string): Record<string, unknown> {
  return {
    id: h.id,
    hostname: h.hostname,
    machine_id: h.machineId,
    this_host: h.machineId === self,
    first_seen_at: new Date(h.firstSeenAt).toISOString(),
    last_seen_at: new Date(h.lastSeenAt).toISOString(),
  };
}

export function registerHosts(program: Command): void {
  withGlobals(
    program
      .command('hosts')
      .description('list the hosts that use the catalog (a postgresql:// catalog is shared)'),
  ).action(async (opts: GlobalOptions) => {
    const self = hostIdentity();
    const cat = await openHostCatalog(opts.catalog);
    try {
      let list: readonly HostRow[];
      try {
        list = await cat.hosts.list();
      } catch (err) {
        throw cat.failure(err);
      }
      if (opts.json) {
        printJson({
          catalog: cat.location,
          backend: cat.backend,
          this_host: { hostname: self.hostname, machine_id: self.machineId },
          hosts: list.map((h) => hostJson(h, self.machineId)),
        });
        return;
      }
      if (list.length === 0) {
        say(opts, `No hosts registered in ${cat.location} yet.`);
        return;
      }
      say(
        opts,
        table(
          ['ID', 'HOST', 'MACHINE ID', 'FIRST SEEN', 'LAST SEEN', ''],
          list.map((h) => [
            String(h.id),
            h.hostname,
            h.machineId,
            formatTime(h.firstSeenAt),
            formatTime(h.lastSeenAt),
            h.machineId === self.machineId ? '(this host)' : '',
          ]),
          [true, false, false, false, false, false],
        ),
      );
    } finally {
      await cat.close();
    }
  });
}
