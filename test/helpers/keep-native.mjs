/**
 * A test process keeps every better-sqlite3 object it makes until it ends, as the commands do
 * (src/catalog/native-handles.ts says why): on Node 24 a Database, Statement or iterator that
 * became garbage aborts the process when a collection finished by a platform task frees it
 * ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook). The tests read
 * catalogs with `new Database(...)` directly, so on Node 24 vitest's worker processes aborted
 * now and then after their tests had passed, and the run failed with "Worker exited
 * unexpectedly" (15 of them in one run of the suite). Loaded by vitest.config.ts (setupFiles)
 * in every test process before any test file, and imported by the programs
 * test/e2e/native-lifetime.test.ts runs. Plain JavaScript, so that a plain `node` runs it too.
 *
 * What stays is a wrapper of a few hundred bytes per statement: a closed database has
 * finalised its statements' SQLite handles.
 */
import Database from 'better-sqlite3';

const kept = [];
const keptDbs = new WeakSet();
const patchedPrototypes = new WeakSet();

function keepDb(db) {
  if (keptDbs.has(db)) return;
  keptDbs.add(db);
  kept.push(db);
}

/** A statement's iterate keeps its iterator too (patched once, on the statements' prototype). */
function keepStatement(s) {
  kept.push(s);
  const proto = Object.getPrototypeOf(s);
  if (!patchedPrototypes.has(proto)) {
    patchedPrototypes.add(proto);
    const iterate = proto.iterate;
    proto.iterate = function (...args) {
      const it = iterate.apply(this, args);
      kept.push(it);
      return it;
    };
  }
  return s;
}

const proto = Database.prototype;
const prepare = proto.prepare;
const exec = proto.exec;
proto.prepare = function (source) {
  keepDb(this);
  return keepStatement(prepare.call(this, source));
};
proto.exec = function (source) {
  keepDb(this);
  return exec.call(this, source);
};
// better-sqlite3 prepares a pragma on a private path and returns nothing to keep: through
// prepare instead, as native-handles.ts does for the commands.
proto.pragma = function (source, opts) {
  const s = this.prepare(`PRAGMA ${source}`);
  // A pragma that sets a value may return no row at all; better-sqlite3 answers [] then.
  if (!s.reader) {
    s.run();
    return opts?.simple ? undefined : [];
  }
  return opts?.simple ? s.pluck().get() : s.all();
};

/** How many objects this process keeps (a test checks the keeping is in effect). */
export function keptNativeObjects() {
  return kept.length;
}
