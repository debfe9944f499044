/**
 * Processes and threads: telling a live process from a dead one whose pid was reused (the
 * kernel's start time of a pid, field 22 of /proc/PID/stat, differs between the two: the
 * executor lock and the scan record both store it beside the pid), and lowering a thread's
 * scheduling priority (the hashing workers').
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { describeErrno } from '../errors.js';

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

/** How far below the rest of hashall its hashing threads run, unless HASHALL_HASH_NICE says. */
export const HASH_NICE = 10;

/** HASHALL_HASH_NICE when it is a whole number from 0 to 19, else HASH_NICE. */
export function hashNice(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.HASHALL_HASH_NICE;
  return v !== undefined && /^\d+$/.test(v) && Number(v) <= 19 ? Number(v) : HASH_NICE;
}

/**
 * Lowers the calling thread's scheduling priority by `by` nice steps, at most to 19 (Linux:
 * setpriority on the thread's own id, which /proc/thread-self names; lowering one's own
 * priority needs no privilege). Returns why it could not, or undefined.
 */
export function lowerThreadPriority(by: number): string | undefined {
  if (by === 0) return undefined;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(tid) || tid <= 0) return 'no thread id in /proc/thread-self';
    setPriority(tid, Math.min(19, getPriority(tid) + by));
    return undefined;
  } catch (err) {
    return describeErrno(err);
  }
}
