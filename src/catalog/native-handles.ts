/**
 * Every better-sqlite3 object this process makes stays reachable until the process ends (each
 * thread that opens a catalog keeps its own: a worker is a JavaScript realm of its own).
 *
 * Why: better-sqlite3 12 wraps its Database, Statement and StatementIterator objects in
 * `node::ObjectWrap`. Since Node 24.19 that class's destructor removes an environment cleanup
 * hook, and Node 24 aborts the process (SIGABRT, exit 134: "Assertion failed: (env) != nullptr"
 * in RemoveEnvironmentCleanupHook) when the destructor runs outside a JavaScript context. V8
 * runs destructors of garbage wrappers exactly there when a platform task finishes a garbage
 * collection ("finalize incremental marking via task"), so any statement that became garbage
 * could kill a command at a random moment — between two commits of a scan, in the middle of a
 * plan. Node 26 tolerates it; better-sqlite3 13 avoids it but needs Node 22+, and Node 20 is
 * still supported. So no such object may ever become garbage: each one is kept here, and at exit
 * Node's own cleanup hooks free them while the environment is still alive.
 *
 * The commands open every catalog through `openDatabase`; the test processes, which also make
 * databases of their own, call `keepEveryNativeObject` first (test/helpers/keep-native.ts).
 *
 * The cost is small and bounded: a command prepares a few dozen statements whatever the size of
 * the tree (hot loops reuse statements; see stmt.ts), and a closed database has already finalised
 * its statements' SQLite handles, so what stays is a few hundred bytes each.
 */
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';

type DB = Database.Database;

/**
 * The process's kept objects, and the mark of a patched prototype, under global symbols: the
 * tests load this module twice (from src/ through vitest, and from dist/ through the programs
 * they run and the setup file), and both copies must keep into one list and patch once.
 */
const KEPT = Symbol.for('hashall.native-handles.kept');
const PATCHED = Symbol.for('hashall.native-handles.patched');

type Registry = typeof globalThis & {
  [KEPT]?: { readonly list: object[]; readonly databases: WeakSet<object> };
};

function registry(): { readonly list: object[]; readonly databases: WeakSet<object> } {
  return ((globalThis as Registry)[KEPT] ??= { list: [], databases: new WeakSet() });
}

function kept(): object[] {
  return registry().list;
}

/** How many native objects this process keeps (a test checks it does not grow with a tree). */
export function keptNativeObjects(): number {
  return kept().length;
}

type Patchable = Record<string | symbol, unknown>;

/** Keeps a statement, and patches its prototype once so that `iterate` keeps its iterator. */
function keepStatement<S extends Statement>(s: S): S {
  kept().push(s);
  const proto = Object.getPrototypeOf(s) as Patchable;
  if (!proto[PATCHED]) {
    proto[PATCHED] = true;
    // An iterator is a native object of its own; it becomes garbage once the loop ends.
    const iterate = proto.iterate as (...args: unknown[]) => object;
    proto.iterate = function (this: S, ...args: unknown[]) {
      const it = iterate.apply(this, args);
      kept().push(it);
      return it;
    };
  }
  return s;
}

/** Keeps a database the first time it is seen. */
function keepDatabase(db: DB): void {
  const { list, databases } = registry();
  if (databases.has(db)) return;
  databases.add(db);
  list.push(db);
}

/**
 * From now on every better-sqlite3 database of this thread keeps itself from its first
 * statement on, and every statement and iterator it makes: `prepare` keeps what it returns,
 * `exec` keeps the database, and `pragma` (which better-sqlite3 prepares on a private path,
 * returning nothing to keep) goes through that `prepare`. Patched on the prototype, so that a
 * `new Database(...)` anywhere (the tests make their own) is covered; idempotent.
 */
export function keepEveryNativeObject(): void {
  const proto = Database.prototype as unknown as Patchable;
  if (proto[PATCHED]) return;
  proto[PATCHED] = true;
  const prepare = proto.prepare as (this: DB, source: string) => Statement;
  const exec = proto.exec as (this: DB, source: string) => DB;
  proto.prepare = function (this: DB, source: string) {
    keepDatabase(this);
    return keepStatement(prepare.call(this, source));
  };
  proto.exec = function (this: DB, source: string) {
    keepDatabase(this);
    return exec.call(this, source);
  };
  proto.pragma = function (this: DB, source: string, opts?: Database.PragmaOptions) {
    const s = this.prepare(`PRAGMA ${source}`);
    // A pragma that sets a value may return no row at all; better-sqlite3 answers [] then.
    if (!s.reader) {
      s.run();
      return opts?.simple ? undefined : [];
    }
    return opts?.simple ? s.pluck().get() : s.all();
  };
}

/** `new Database(...)`, kept from the start, with every statement it makes. */
export function openDatabase(path: string, options: Database.Options): DB {
  keepEveryNativeObject();
  const db = newDatabase(path, options);
  keepDatabase(db);
  return db;
}

/**
 * better-sqlite3 loads its compiled module on the first `new Database`. When that module was
 * built for another Node.js (a user switched versions with nvm, or copied node_modules), Node's
 * message is four lines about NODE_MODULE_VERSION; say what happened and the one command that
 * fixes it instead.
 */
function newDatabase(path: string, options: Database.Options): DB {
  try {
    return new Database(path, options);
  } catch (err) {
    throw addonUserError(err) ?? err;
  }
}

function addonUserError(err: unknown): UserError | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const mismatch = /NODE_MODULE_VERSION (\d+)[\s\S]*NODE_MODULE_VERSION (\d+)/.exec(msg);
  const missing = /Could not locate the bindings file/.test(msg);
  if (!mismatch && !missing && code !== 'ERR_DLOPEN_FAILED') return undefined;
  let dir = 'the directory hashall is installed in';
  try {
    // <hashall>/node_modules/better-sqlite3/package.json: npm rebuilds from <hashall>.
    const pkg = createRequire(import.meta.url).resolve('better-sqlite3/package.json');
    dir = dirname(dirname(dirname(pkg)));
  } catch {
    // keep the generic wording
  }
  const what = mismatch
    ? `was built for another Node.js (module version ${mismatch[1]}; Node ${process.version} needs ${mismatch[2]})`
    : missing
      ? 'is not built'
      : `cannot be loaded (${msg.split('\n')[0]})`;
  return new UserError(
    `the SQLite module better-sqlite3 ${what}; rebuild it for this Node.js: run \`npm rebuild better-sqlite3\` in ${dir}, or reinstall hashall`,
  );
}
