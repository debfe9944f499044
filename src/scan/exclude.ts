/** --exclude: a glob without '/' matches a name anywhere, one with '/' a path below the root. */
import picomatch from 'picomatch';

export type ExcludeMatcher = (rel: Buffer, name: Buffer) => boolean;

export function excludeMatcher(globs: readonly string[]): ExcludeMatcher | undefined {
  if (globs.length === 0) return undefined;
  const byName = globs.filter((g) => !g.includes('/'));
  const byPath = globs.filter((g) => g.includes('/')).map((g) => g.replace(/^\//, ''));
  const nameMatch = byName.length ? picomatch(byName, { dot: true }) : undefined;
  const pathMatch = byPath.length ? picomatch(byPath, { dot: true }) : undefined;
  return (rel, name) =>
    (nameMatch?.(name.toString('utf8')) ?? false) ||
    (pathMatch?.(rel.toString('utf8').replace(/^\//, '')) ?? false);
}
