/**
 * The password file, read as libpq reads it (PGPASSFILE, else ~/.pgpass): lines of
 * `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped, `#` lines
 * ignored, the first match wins. A file readable by group or others is ignored, as libpq does,
 * and the caller is told so (it goes into the "wrong credentials" message).
 *
 * pg's own .pgpass support is deprecated (and prints a warning); this one is ours.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultSocketDir, type PgTarget } from './target.js';

export type PgpassLookup =
  | { readonly kind: 'found'; readonly password: string; readonly file: string }
  | { readonly kind: 'no-match'; readonly file: string }
  | { readonly kind: 'no-file'; readonly file: string }
  | { readonly kind: 'ignored'; readonly file: string; readonly why: string };

export function pgpassFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.PGPASSFILE || join(env.HOME || homedir(), '.pgpass');
}

/** Split one line on unescaped colons, unescaping `\:` and `\\`. */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === ':' && out.length < 4) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** The host names a line may give for this target: libpq matches `localhost` for the default socket. */
function hostNames(t: PgTarget): string[] {
  if (t.host.kind === 'tcp') return [t.host.name];
  return t.host.dir === defaultSocketDir() ? [t.host.dir, 'localhost'] : [t.host.dir];
}

export function lookupPgpass(t: PgTarget, env: NodeJS.ProcessEnv = process.env): PgpassLookup {
  const file = pgpassFile(env);
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) return { kind: 'ignored', file, why: 'it is not a regular file' };
    if ((st.mode & 0o077) !== 0) {
      return {
        kind: 'ignored',
        file,
        why: 'it is readable by group or others (chmod 600 it)',
      };
    }
    text = readFileSync(file, 'utf8');
  } catch {
    return { kind: 'no-file', file };
  }
  const hosts = hostNames(t);
  const want = (field: string, values: readonly string[]) =>
    field === '*' || values.includes(field);
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const f = fields(line);
    if (f.length < 5) continue;
    if (
      want(f[0]!, hosts) &&
      want(f[1]!, [String(t.port)]) &&
      want(f[2]!, [t.database]) &&
      want(f[3]!, [t.user])
    ) {
      return { kind: 'found', password: f[4]!, file };
    }
  }
  return { kind: 'no-match', file };
}
