/**
 * A `--keep prefer=PREFIX` rule's place inside its filesystem. Paths are shown, and the keep
 * rules first compare them, through one view of each filesystem (visible-path.ts: a writable
 * mount first, then the one with the shortest root). A prefix given through another view, a
 * bind mount of one directory or the same filesystem mounted twice, names the same files by
 * other paths and matched none of them: the rule was silently ignored. Resolved here as a
 * scope directory is (scope.ts), it matches the files it names by their place in the
 * filesystem, whichever view the user named them through.
 */
import type { KeepRule } from './keep-rules.js';
import { resolveCataloguedPath, type ScopeCatalog } from './scope.js';

/**
 * The rules with each prefer= prefix that exists on a catalogued filesystem located in it. A
 * prefix that does not exist, or lies on a filesystem the catalog does not know, is left to
 * match the paths as shown, as before.
 */
export async function locateKeepPrefixes(
  catalog: ScopeCatalog,
  rules: readonly KeepRule[],
): Promise<readonly KeepRule[]> {
  const located: KeepRule[] = [];
  for (const rule of rules) {
    if (rule.kind !== 'prefer' || rule.within) {
      located.push(rule);
      continue;
    }
    try {
      const r = await resolveCataloguedPath(catalog, rule.prefix, '--keep prefer=');
      located.push({ ...rule, within: { deviceId: r.device.id, fsPath: r.fsPath } });
    } catch {
      // Not there, not readable, or on no catalogued filesystem: a prefix never failed a plan,
      // and still does not. (A catalog that fails here fails the plan's next step.)
      located.push(rule);
    }
  }
  return located;
}
