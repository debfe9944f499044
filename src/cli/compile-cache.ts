/**
 * V8's compile cache for the installed command (dist/cli/bin.js). Node 22.1+ can keep the code
 * V8 compiled for a module on disk and reuse it while the file is unchanged; hashall keeps it
 * in the user's cache folder: $XDG_CACHE_HOME/hashall/compile-cache, else
 * ~/.cache/hashall/compile-cache, when that folder (or home) is the user's own. Nothing here
 * may stop a command: on Node 20 (no such API), without a usable home, on a read-only or
 * foreign cache folder, the command runs uncached and says nothing. NODE_COMPILE_CACHE (a folder of the user's choosing, which Node has already
 * turned on by the time this runs) and NODE_DISABLE_COMPILE_CACHE=1 are Node's own and win.
 */
import { statSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** Node 22.1+'s API; typed here because @types/node follows the oldest supported line (20). */
type Enable = (dir?: string) => { status: number; message?: string; directory?: string };

/**
 * Whether `dir` is this user's own: `sudo hashall` often keeps the invoking user's $HOME, and
 * a cache folder that root created there would then belong to root, in someone else's home.
 */
function ownFolder(dir: string): boolean {
  try {
    return statSync(dir).uid === process.geteuid?.();
  } catch {
    return false;
  }
}

/** Where the cache goes, or undefined when there is no user cache folder of ours to put it in. */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  // The XDG base directory rules: a relative value is invalid and is ignored.
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) {
    return ownFolder(xdg) ? join(xdg, 'hashall', 'compile-cache') : undefined;
  }
  let home: string;
  try {
    // $HOME, else the password database's entry; throws when there is neither.
    home = homedir();
  } catch {
    return undefined;
  }
  return home && isAbsolute(home) && ownFolder(home)
    ? join(home, '.cache', 'hashall', 'compile-cache')
    : undefined;
}

export function enableCompileCache(): void {
  const enable = (module as { enableCompileCache?: Enable }).enableCompileCache;
  if (!enable) return;
  const dir = compileCacheDir();
  if (!dir) return;
  try {
    // Node creates the folder; when it cannot (read-only, not ours), it reports FAILED in the
    // returned status rather than throwing, and the command runs uncached.
    enable(dir);
  } catch {
    // Not expected, but a cache is never worth a failed command.
  }
}
