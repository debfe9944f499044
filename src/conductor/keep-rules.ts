/**
 * `--keep` rules: which copy of a group is kept. Rules are tried in order; the first one that
 * tells the best candidate from the best candidate on another inode decides, and when every
 * rule ties, the lexically first path (bytes) does. Pure logic over candidate paths.
 */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { isUnder } from '../paths.js';
import { displayPath } from '../display-path.js';
import type { Member } from '../catalog/groups.js';

export type KeepRuleName = 'most-linked' | 'path' | 'oldest' | 'newest' | 'shortest-path';

export type KeepRule =
  | { readonly kind: KeepRuleName }
  | {
      readonly kind: 'prefer';
      /** As given, made absolute: matched against each path as the user sees it. */
      readonly prefix: Buffer;
      /**
       * The same place inside its filesystem, where the prefix is on a catalogued one
       * (keep-prefixes.ts): matched against each path's place there, so that a prefix given
       * through another view of the filesystem (a bind mount) than the one paths are shown
       * through still applies.
       */
      readonly within?: { readonly deviceId: number; readonly fsPath: Buffer };
    };

export const KEEP_RULE_NAMES: readonly KeepRuleName[] = [
  'most-linked',
  'path',
  'oldest',
  'newest',
  'shortest-path',
];

/**
 * Without --keep: fewest writes first, then the oldest copy, which is most likely the original
 * (a tie once kept `photos-backup/img.jpg` over an older `photos/img.jpg` only because '-' sorts
 * before '/', and every link of the kept inode shows the kept copy's mtime). The lexically first
 * path breaks the remaining ties.
 */
export const DEFAULT_KEEP: readonly KeepRule[] = [{ kind: 'most-linked' }, { kind: 'oldest' }];

/** The keep_rule of a group in which every rule tied: the lexically first path was kept. */
export const TIE_RULE = 'path (tie)';
/** The keep_rule of a group with one candidate inode (the others are filtered out). */
export const ONLY_RULE = 'only candidate';

const USAGE = `use ${KEEP_RULE_NAMES.join(', ')} or prefer=PREFIX`;

/**
 * One `--keep` value. A prefer=PREFIX is made absolute against the working directory and, when
 * it exists, resolved through symlinks like the scanned paths were.
 */
export function parseKeepRule(text: string, cwd = process.cwd()): KeepRule {
  if ((KEEP_RULE_NAMES as readonly string[]).includes(text)) return { kind: text as KeepRuleName };
  const quoted = `'${displayPath(Buffer.from(text))}'`;
  if (text.startsWith('prefer=')) {
    const given = text.slice('prefer='.length);
    if (!given) throw new UserError(`--keep: ${quoted} needs a path after prefer=`);
    let abs = resolve(cwd, given);
    if (existsSync(abs)) {
      try {
        abs = realpathSync(abs);
      } catch {
        // Unreadable: keep the lexical form.
      }
    }
    return { kind: 'prefer', prefix: Buffer.from(abs) };
  }
  throw new UserError(`--keep: ${quoted} is not a keep rule; ${USAGE}`);
}

export function keepRuleText(r: KeepRule): string {
  return r.kind === 'prefer' ? `prefer=${displayPath(r.prefix)}` : r.kind;
}

/** A path that could be kept, with what the rules look at. */
export interface Candidate {
  readonly member: Member;
  /** The path as the user sees it (mount point + path inside). */
  readonly visible: Buffer;
  /** Its inode cannot be freed anyway: links outside the catalog, or filtered-out links. */
  readonly held: boolean;
  /** Catalogued links of its inode in the group. */
  readonly links: number;
}

/** Negative when `a` is the better one to keep by this rule, 0 on a tie. */
export function compareBy(rule: KeepRule, a: Candidate, b: Candidate): number {
  switch (rule.kind) {
    case 'most-linked':
      if (a.held !== b.held) return a.held ? -1 : 1;
      return b.links - a.links;
    case 'path':
      return Buffer.compare(a.visible, b.visible);
    case 'oldest':
      return a.member.mtimeNs < b.member.mtimeNs ? -1 : a.member.mtimeNs > b.member.mtimeNs ? 1 : 0;
    case 'newest':
      return a.member.mtimeNs > b.member.mtimeNs ? -1 : a.member.mtimeNs < b.member.mtimeNs ? 1 : 0;
    case 'shortest-path':
      return a.visible.length - b.visible.length;
    case 'prefer': {
      const ua = preferred(rule, a);
      return ua === preferred(rule, b) ? 0 : ua ? -1 : 1;
    }
  }
}

function preferred(rule: KeepRule & { kind: 'prefer' }, c: Candidate): boolean {
  if (isUnder(c.visible, rule.prefix)) return true;
  const w = rule.within;
  return w !== undefined && c.member.deviceId === w.deviceId && isUnder(c.member.path, w.fsPath);
}

function compareAll(rules: readonly KeepRule[], a: Candidate, b: Candidate): number {
  for (const r of rules) {
    const c = compareBy(r, a, b);
    if (c !== 0) return c;
  }
  return Buffer.compare(a.visible, b.visible) || a.member.fileId - b.member.fileId;
}

/**
 * The candidate to keep and the rule that chose it: the first rule that separates it from the
 * best candidate of any other inode, TIE_RULE when none does, ONLY_RULE when there is no other
 * inode to choose from.
 */
export function chooseCandidate(
  candidates: readonly Candidate[],
  rules: readonly KeepRule[],
): { kept: Candidate; rule: string } {
  if (candidates.length === 0) throw new Error('chooseCandidate: no candidates');
  const sorted = [...candidates].sort((a, b) => compareAll(rules, a, b));
  const kept = sorted[0]!;
  const runnerUp = sorted.find((c) => c.member.inode !== kept.member.inode);
  if (!runnerUp) return { kept, rule: ONLY_RULE };
  const decided = rules.find((r) => compareBy(r, kept, runnerUp) !== 0);
  return { kept, rule: decided ? keepRuleText(decided) : TIE_RULE };
}
