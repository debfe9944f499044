/**
 * This host's identity, for a catalog that several hosts share (README "Several hosts"): the
 * machine id that systemd and D-Bus keep in /etc/machine-id (stable across reboots and
 * renames, unique per installation), plus the hostname for people to read. A machine without
 * one (some containers) is identified by its hostname, and says so.
 *
 * HASHALL_HOST_ID and HASHALL_HOSTNAME override both: tests simulate hosts with processes in
 * their own UTS and mount namespaces, and an installation cloned with its machine id (a VM
 * image) can be told apart this way.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { UserError } from '../errors.js';

export interface HostIdentity {
  /** What tells this host from every other: a machine id, or `hostname:NAME` without one. */
  readonly machineId: string;
  readonly hostname: string;
  readonly source: 'override' | 'machine-id' | 'hostname';
}

const MACHINE_ID_FILES = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

function readMachineId(): string | undefined {
  for (const file of MACHINE_ID_FILES) {
    try {
      const id = readFileSync(file, 'utf8').trim().toLowerCase();
      // An empty file or 'uninitialized' (first boot) identifies nothing.
      if (/^[0-9a-f]{32}$/.test(id)) return id;
    } catch {
      // absent or unreadable: try the next
    }
  }
  return undefined;
}

/** Printable, one line, not too long: it goes into listings and messages. */
function checkOverride(name: string, value: string): string {
  if (!/^[\x21-\x7e]{1,128}$/.test(value)) {
    throw new UserError(
      `${name}=${JSON.stringify(value)} is not valid: use 1 to 128 printable characters without spaces`,
    );
  }
  return value;
}

export function hostIdentity(env: NodeJS.ProcessEnv = process.env): HostIdentity {
  const name = env.HASHALL_HOSTNAME
    ? checkOverride('HASHALL_HOSTNAME', env.HASHALL_HOSTNAME)
    : hostname();
  if (env.HASHALL_HOST_ID) {
    return {
      machineId: checkOverride('HASHALL_HOST_ID', env.HASHALL_HOST_ID),
      hostname: name,
      source: 'override',
    };
  }
  const id = readMachineId();
  if (id) return { machineId: id, hostname: name, source: 'machine-id' };
  return { machineId: `hostname:${name}`, hostname: name, source: 'hostname' };
}
