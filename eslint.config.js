// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * The layers (README "Architecture"): every import points down.
 *
 *   cli  ->  conductor / report  ->  scan  ->  catalog, fs  ->  base (src/*.ts)
 *
 * report may import the conductor's read-only modules (REPORT_MAY_USE); the conductor never
 * imports report. catalog and fs are one floor and do not import each other. Only src/catalog
 * may import better-sqlite3. test/ and bench/ are not restricted.
 *
 * A pattern matches the import as written, so it names the folder one or more `../` up:
 * '../conductor/lock.js' from src/scan/scanner.ts, '../../report/x.js' from a subfolder.
 */
const up = (folders) => `^(?:\\.\\./)+(?:${folders.join('|')})(?:/|$)`;
const layerRule = (folders, why) => ({ regex: up(folders), message: why });

/** Conductor modules that only compute or look up: no file, catalog row or lock is changed. */
const REPORT_MAY_USE = [
  'dupes',
  'filters',
  'keep',
  'keep-rules',
  'metadata-change',
  'mode',
  'scope',
  'visible-path',
];

const NO_DRIVER = [
  {
    name: 'better-sqlite3',
    message: 'Only src/catalog talks to SQLite: add a typed operation there and call it.',
  },
  {
    name: 'pg',
    message: 'Only src/catalog talks to PostgreSQL: add a typed operation there and call it.',
  },
];

/**
 * Outside src/catalog the catalog is the port (src/catalog/port.ts): code takes `Catalog` and
 * calls its operations. Its types may be imported from any catalog module (`import type`);
 * values only from the port's pure modules (decoders of stored shapes, no database) and, in the
 * CLI, which opens the catalog a command uses, from the openers.
 */
const CATALOG_PURE = ['port', 'plan-types', 'action-decode'];
// copy/copy: `hashall catalog copy` works on two whole catalogs, below the port by nature.
const CATALOG_OPENERS = ['open', 'open-port', 'location', 'backend', 'host-open', 'copy/copy'];
const catalogThroughPort = (surface) => ({
  regex: `^(?:\\.\\./)+catalog/(?!(?:${surface.join('|')})\\.js$)`,
  allowTypeImports: true,
  message: `Outside src/catalog the catalog is the port: take \`Catalog\` (catalog/port.ts) and call its operations; import catalog types with \`import type\`. Values only from catalog/{${surface.join(',')}}.js here (see CATALOG_PURE in eslint.config.js).`,
});

/**
 * Per folder, what its files may not import. Every block but the catalog's also forbids
 * better-sqlite3 (value or type): a later block's options replace an earlier one's, so each
 * block carries the whole list.
 */
const LAYERS = [
  {
    files: ['src/*.ts'],
    patterns: [
      {
        regex: '^\\./[^/]+/',
        message:
          'Base modules (src/*.ts) import no layer: move the shared piece into a base module.',
      },
    ],
  },
  {
    files: ['src/catalog/**/*.ts'],
    sqlite: 'allowed',
    patterns: [
      layerRule(
        ['cli', 'conductor', 'report', 'scan', 'fs'],
        'catalog imports only base modules (src/*.ts): move the shared type or function down.',
      ),
    ],
  },
  {
    files: ['src/fs/**/*.ts'],
    patterns: [
      layerRule(
        ['cli', 'conductor', 'report', 'scan', 'catalog'],
        'fs imports only base modules (src/*.ts): take a structural type instead of a catalog row.',
      ),
    ],
  },
  {
    files: ['src/scan/**/*.ts'],
    patterns: [
      layerRule(
        ['cli', 'conductor', 'report'],
        'scan imports only catalog, fs and base: move the shared piece down.',
      ),
      catalogThroughPort(CATALOG_PURE),
    ],
  },
  {
    files: ['src/conductor/**/*.ts'],
    patterns: [
      layerRule(
        ['cli', 'report'],
        'conductor imports only scan, catalog, fs and base (never cli or report): move the shared piece down.',
      ),
      catalogThroughPort(CATALOG_PURE),
    ],
  },
  {
    files: ['src/report/**/*.ts'],
    patterns: [
      layerRule(
        ['cli'],
        'report never imports cli: move the shared piece down (e.g. src/format.ts).',
      ),
      {
        regex: `^(?:\\.\\./)+conductor/(?!(?:${REPORT_MAY_USE.join('|')})\\.js$)`,
        message: `report may use only the conductor's read-only modules (${REPORT_MAY_USE.join(', ')}); see REPORT_MAY_USE in eslint.config.js.`,
      },
      catalogThroughPort(CATALOG_PURE),
    ],
  },
  {
    files: ['src/cli/**/*.ts'],
    patterns: [catalogThroughPort([...CATALOG_PURE, ...CATALOG_OPENERS])],
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/.cache/', 'build/', 'prebuilds/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The install step (CommonJS, run by npm with whatever Node the user has).
    files: ['native/**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', process: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // no-restricted-imports sees only static imports and re-exports; these would slip past it.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          // A lazy import of a module in the same folder (or below) crosses no layer: allowed,
          // so heavy optional parts (the PostgreSQL driver) load only when asked for.
          selector: 'ImportExpression:not([source.value=/^[.][\\x2f][^.]/])',
          message:
            "Use a static import, so that the layer rule (eslint.config.js) can check it (a lazy import('./same-folder.js') is allowed).",
        },
        {
          selector: 'TSImportType',
          message: 'Use `import type`, so that the layer rule (eslint.config.js) can check it.',
        },
      ],
    },
  },
  {
    // The catalog port is asynchronous (src/catalog/port.ts): a forgotten await would let a
    // write land after the step that depends on it, or an error escape as an unhandled rejection.
    files: ['src/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  ...LAYERS.map(({ files, patterns, sqlite }) => ({
    files,
    rules: {
      // The typescript-eslint version: it knows `import type` (allowTypeImports).
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: sqlite === 'allowed' ? [] : NO_DRIVER,
          patterns,
        },
      ],
    },
  })),
);
