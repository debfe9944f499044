/** The conductor subcommands' argument parsers and plan lookup (one-line refusals). */
import { InvalidArgumentError } from 'commander';
import type { Catalog } from '../../../catalog/port.js';
import { type DeviceRow } from '../../../catalog/devices.js';
import type { PlanRow } from '../../../catalog/plans.js';
import { resolveWholeDevice } from '../../../conductor/device-scope.js';
import { argBytes } from '../../raw-argv.js';
import type { Verify } from '../../../conductor/execute/index.js';
import { MODES, type Mode } from '../../../conductor/mode.js';
import { UserError } from '../../../errors.js';

export function parseLimit(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 1_000_000_000) {
    throw new InvalidArgumentError('give a whole number from 0 (everything) upwards');
  }
  return n;
}

export function parsePlanId(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('a plan id is a positive whole number');
  return n;
}

export function parseBool(v: string | boolean | undefined): boolean {
  if (v === undefined || v === true) return true;
  if (v === false) return false;
  const s = String(v).toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(s)) return true;
  if (['false', 'no', '0', 'off'].includes(s)) return false;
  throw new InvalidArgumentError('use true or false, e.g. --same-device=false');
}

export function parseMode(v: string): Mode {
  if (!(MODES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`use one of: ${MODES.join(', ')}`);
  return v as Mode;
}

export function parseVerify(v: string): Verify {
  if (v !== 'bytes' && v !== 'hash') throw new InvalidArgumentError("use 'bytes' or 'hash'");
  return v;
}

export async function deviceOption(
  catalog: Pick<Catalog, 'planDevices'>,
  arg: string | undefined,
): Promise<DeviceRow | undefined> {
  return arg === undefined
    ? undefined
    : resolveWholeDevice(
        catalog,
        argBytes(arg),
        "for that directory's duplicates: 'hashall conductor analyze DIR' or 'hashall dupes DIR'",
      );
}

export async function requirePlan(catalog: Pick<Catalog, 'plans'>, id: number): Promise<PlanRow> {
  const plan = await catalog.plans.get(id);
  if (!plan) throw new UserError(`no plan with id ${id}; 'hashall conductor plans' lists them`);
  return plan;
}
