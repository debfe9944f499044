/**
 * The one prefix of every name hashall creates in a user's tree or beside an output file:
 * execute's temporary links and reflink staging directories, the reflink probe, and reports
 * written atomically. Scans skip such names and recovery removes only names carrying it, so
 * it is spelled in this one place.
 */
export const TEMP_PREFIX = '.hashall-tmp-';

/** TEMP_PREFIX as bytes, for comparing against raw directory entry names. */
export const TEMP_PREFIX_BYTES: Buffer = Buffer.from(TEMP_PREFIX);

/** Whether a directory entry's name is one of ours (the prefix and something after it). */
export function hasTempPrefix(name: Buffer): boolean {
  return (
    name.length > TEMP_PREFIX_BYTES.length &&
    name.subarray(0, TEMP_PREFIX_BYTES.length).equals(TEMP_PREFIX_BYTES)
  );
}
