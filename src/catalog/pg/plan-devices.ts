/**
 * Devices and directories as planning names them, on PostgreSQL: PlanDevices of the plan port
 * (../plan-port.ts). The device rows are the scan side's (records.ts), so both concerns show
 * the same devices however those come to be qualified; a catalog holds tens of devices, so
 * finding one by identity in the list costs nothing.
 */
import type pg from 'pg';
import type { PlanDevices } from '../plan-port.js';
import { pgDeviceRecords } from './records.js';

export function pgPlanDevices(client: pg.Client): PlanDevices {
  const devices = pgDeviceRecords(client);
  return {
    list: async () => [...(await devices.list())],
    byAlias: (alias) => devices.findByAlias(alias),
    byIdentity: async (identity) => (await devices.list()).find((d) => d.identity === identity),
    async isCataloguedDir(d) {
      const r = await client.query(
        `SELECT 1 FROM dirs WHERE device_id = $1 AND path = $2 AND status = 'active'`,
        [d.deviceId, d.fsPath],
      );
      return r.rowCount !== null && r.rowCount > 0;
    },
  };
}
