/** Exit codes of the command-line contract (DESIGN §8). */
export const EXIT = { ok: 0, partial: 1, usage: 2, interrupted: 130 } as const;

/**
 * An error the user can act on: one line saying what, which path, why and what to do.
 * Anything else reaching the top level is a bug and is shown with its stack only under --debug.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  ENAMETOOLONG: 'path too long',
  ELOOP: 'too many levels of symbolic links',
  EIO: 'input/output error',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EXDEV: 'cross-device link',
  EBUSY: 'resource busy',
  EMFILE: 'too many open files',
  ESTALE: 'stale file handle',
};

/** "EACCES (permission denied)" style text for a system error. */
export function describeErrno(err: unknown): string {
  const code = errnoCode(err);
  if (code && REASONS[code]) return `${code} (${REASONS[code]})`;
  if (err instanceof Error && err.message) return err.message;
  return code ?? String(err);
}
