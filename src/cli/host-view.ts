/** This host as listings see it: its machine id and how many hosts the catalog knows. */
import type { Catalog } from '../catalog/port.js';
import type { HostView } from '../device-label.js';
import { hostIdentity } from '../fs/host.js';

export async function hostView(catalog: Pick<Catalog, 'hosts'>): Promise<HostView> {
  return { machineId: hostIdentity().machineId, hosts: (await catalog.hosts.list()).length };
}
