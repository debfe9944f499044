/**
 * Telling a live process from a dead one whose pid was reused: the kernel's start time of a
 * pid (field 22 of /proc/PID/stat) differs between the two. The executor lock and the scan
 * record both store it beside the pid.
 */
import { readFileSync } from 'node:fs';

/** The start time of `pid` in clock ticks since boot, or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 22 (starttime) comes after the parenthesised command name, which may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}
