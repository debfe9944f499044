/**
 * The layer rule of eslint.config.js, run through ESLint's own API on synthetic files: every
 * upward import is an error naming the rule, every downward one passes. If the config stops
 * matching (a renamed folder, a pattern typo) these fail, not silently pass.
 */
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

let eslint: ESLint;

beforeAll(() => {
  // cwd is the repository root under vitest: ESLint finds eslint.config.js there.
  eslint = new ESLint({ cwd: process.cwd() });
});

/** The layer/SQLite messages ESLint reports for `code` as if it were the file at `filePath`. */
async function restricted(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages
    .filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports' || m.fatal)
    .map((m) => m.message);
}

const importOf = (spec: string) => `import * as m from '${spec}';\nexport { m };\n`;
const typeImportOf = (spec: string) => `import type * as m from '${spec}';\nexport type { m };\n`;

/** [file, import] pairs that point up (or sideways between catalog and fs). */
const UPWARD: [string, string][] = [
  ['src/paths.ts', './catalog/open.js'],
  ['src/errors.ts', './fs/mountinfo.js'],
  ['src/catalog/plans.ts', '../conductor/keep.js'],
  ['src/catalog/plans.ts', '../scan/scanner.js'],
  ['src/catalog/plans.ts', '../report/html.js'],
  ['src/catalog/plans.ts', '../cli/format.js'],
  ['src/catalog/plans.ts', '../fs/mountinfo.js'],
  ['src/fs/reachability.ts', '../catalog/devices.js'],
  ['src/fs/reachability.ts', '../scan/walker.js'],
  ['src/scan/scanner.ts', '../conductor/lock.js'],
  ['src/scan/scanner.ts', '../report/output.js'],
  ['src/scan/scanner.ts', '../cli/context.js'],
  ['src/conductor/run.ts', '../report/plan-report.js'],
  ['src/conductor/run.ts', '../cli/format.js'],
  // A file in a subfolder reaches the same layers two levels up.
  ['src/conductor/execute/check.ts', '../../report/html.js'],
  ['src/conductor/execute/check.ts', '../../cli/format.js'],
  ['src/report/html.ts', '../cli/format.js'],
  ['src/report/html.ts', '../cli/filter-options.js'],
  // report may read the conductor's pure modules, not run anything.
  ['src/report/html.ts', '../conductor/execute.js'],
  ['src/report/html.ts', '../conductor/lock.js'],
  ['src/report/html.ts', '../conductor/recovery.js'],
];

/** [file, import] pairs that point down (or stay in the folder). */
const DOWNWARD: [string, string][] = [
  ['src/paths.ts', './errors.js'],
  ['src/catalog/plans.ts', './plan-types.js'],
  ['src/catalog/plans.ts', '../paths.js'],
  ['src/catalog/open.ts', 'better-sqlite3'],
  ['src/fs/reachability.ts', './mountinfo.js'],
  ['src/fs/reachability.ts', '../paths.js'],
  ['src/scan/scanner.ts', '../catalog/port.js'],
  ['src/scan/scanner.ts', '../fs/process.js'],
  ['src/scan/scanner.ts', '../format.js'],
  ['src/conductor/run.ts', '../scan/walker.js'],
  ['src/conductor/run.ts', '../catalog/action-decode.js'],
  ['src/conductor/run.ts', '../fs/reachability.js'],
  ['src/conductor/execute/check.ts', '../../catalog/port.js'],
  ['src/conductor/execute/check.ts', '../lock.js'],
  ['src/report/html.ts', '../conductor/mode.js'],
  ['src/report/html.ts', '../conductor/filters.js'],
  ['src/report/html.ts', '../catalog/plan-types.js'],
  ['src/report/html.ts', '../format.js'],
  ['src/cli/commands/scan.ts', '../../conductor/execute/index.js'],
  ['src/cli/commands/scan.ts', '../../report/html.js'],
  ['src/cli/format.ts', '../format.js'],
  // node: builtins whose names look like a folder are not layers.
  ['src/catalog/open.ts', 'node:fs'],
  ['src/catalog/open.ts', 'node:fs/promises'],
];

describe('layer rule', () => {
  it.each(UPWARD)('%s may not import %s', async (file, spec) => {
    for (const code of [importOf(spec), typeImportOf(spec), `export * from '${spec}';\n`]) {
      const msgs = await restricted(file, code);
      expect(msgs, code).toHaveLength(1);
      expect(msgs[0]).toContain(spec);
      expect(msgs[0]).toMatch(/import no layer|imports? only|never imports|may use only/);
    }
  });

  it.each(DOWNWARD)('%s may import %s', async (file, spec) => {
    expect(await restricted(file, importOf(spec))).toEqual([]);
    expect(await restricted(file, typeImportOf(spec))).toEqual([]);
  });
});

describe('the catalog through its port', () => {
  const valueOf = (spec: string) => `import { f } from '${spec}';\nexport const g = f;\n`;
  const typeOf = (spec: string) => `import type { T } from '${spec}';\nexport type U = T;\n`;

  it.each([
    ['src/scan/scanner.ts', '../catalog/devices.js'],
    ['src/conductor/run.ts', '../catalog/plans.js'],
    ['src/conductor/execute/check.ts', '../../catalog/journal.js'],
    ['src/report/html.ts', '../catalog/plan-report.js'],
    ['src/cli/commands/scan.ts', '../../catalog/stats.js'],
    // Opening a catalog is the CLI's: the conductor is handed one.
    ['src/conductor/run.ts', '../catalog/open.js'],
  ])('%s may not call %s: a value import is refused, a type import is not', async (file, spec) => {
    const msgs = await restricted(file, valueOf(spec));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('Outside src/catalog the catalog is the port');
    expect(await restricted(file, typeOf(spec))).toEqual([]);
  });

  it.each([
    ['src/conductor/run.ts', '../catalog/port.js'],
    ['src/conductor/mode.ts', '../catalog/action-decode.js'],
    ['src/report/html.ts', '../catalog/plan-types.js'],
    ['src/cli/context.ts', '../catalog/open.js'],
    ['src/cli/main.ts', '../catalog/location.js'],
  ])('%s may import values from %s', async (file, spec) => {
    expect(await restricted(file, valueOf(spec))).toEqual([]);
  });
});

describe('database drivers outside src/catalog', () => {
  it.each(['src/cli/main.ts', 'src/conductor/run.ts', 'src/scan/walk-hasher.ts'])(
    'pg is refused in %s',
    async (file) => {
      const msgs = await restricted(file, `import pg from 'pg';\nexport const p = pg;\n`);
      expect(msgs).toHaveLength(1);
      expect(msgs[0]).toContain('Only src/catalog talks to PostgreSQL');
    },
  );
});

describe('better-sqlite3 outside src/catalog', () => {
  it.each([
    'src/cli/main.ts',
    'src/conductor/run.ts',
    'src/report/html.ts',
    'src/scan/walk-hasher.ts',
    'src/fs/safe-ops.ts',
    'src/errors.ts',
  ])('is refused in %s, as a value and as a type', async (file) => {
    for (const code of [
      `import Database from 'better-sqlite3';\nexport const d = Database;\n`,
      `import type { Statement } from 'better-sqlite3';\nexport type S = Statement;\n`,
    ]) {
      const msgs = await restricted(file, code);
      expect(msgs, code).toHaveLength(1);
      expect(msgs[0]).toContain('Only src/catalog talks to SQLite');
    }
  });

  it('is allowed in src/catalog and in tests', async () => {
    const code = `import Database from 'better-sqlite3';\nexport const d = Database;\n`;
    expect(await restricted('src/catalog/stmt.ts', code)).toEqual([]);
    expect(await restricted('test/e2e/conductor.test.ts', code)).toEqual([]);
  });
});

describe('imports the layer rule cannot see', () => {
  it('refuses import() and import("…").T in src', async () => {
    const [a] = await eslint.lintText(`export const m = () => import('../conductor/lock.js');\n`, {
      filePath: 'src/scan/scanner.ts',
    });
    const [b] = await eslint.lintText(
      `export type T = import('../conductor/keep.js').PlannedAction;\n`,
      { filePath: 'src/catalog/plans.ts' },
    );
    for (const r of [a!, b!]) {
      expect(r.messages.map((m) => m.ruleId)).toEqual(['no-restricted-syntax']);
      expect(r.messages[0]!.message).toContain('layer rule');
    }
  });

  it('allows a lazy import of the same folder or below, and nothing that climbs out', async () => {
    const lint = async (spec: string) =>
      (
        await eslint.lintText(`export const m = () => import('${spec}');\n`, {
          filePath: 'src/catalog/open-port.ts',
        })
      )[0]!.messages.map((m) => m.ruleId);
    expect(await lint('./pg/connect.js')).toEqual([]);
    expect(await lint('./copy/pg-side.js')).toEqual([]);
    expect(await lint('./../cli/context.js')).toEqual(['no-restricted-syntax']);
    expect(await lint('../cli/context.js')).toEqual(['no-restricted-syntax']);
  });
});

describe('tests are not restricted', () => {
  it('a test may import any layer', async () => {
    expect(await restricted('test/unit/x.test.ts', importOf('../../src/cli/format.js'))).toEqual(
      [],
    );
  });
});
