import { defineConfig } from 'vitest/config';

/**
 * Files that must run alone: they count on loop device numbers (a loop device detached and
 * attached again at the same number, or the next free one occupied on purpose), which another
 * file's `losetup -f` or `mount -o loop` would take meanwhile, or they drive a terminal (tmux)
 * with keystrokes timed against the screen.
 */
const ALONE = [
  'test/e2e/device-identity.test.ts',
  'test/e2e/scan-mounts.test.ts',
  'test/e2e/terminal.test.ts',
];

const common = {
  testTimeout: 120_000,
  hookTimeout: 300_000,
  // Keeps better-sqlite3's objects from being collected: Node 24 aborts otherwise (see there).
  setupFiles: ['test/helpers/keep-native.ts'],
};

export default defineConfig({
  test: {
    projects: [
      {
        // Two files at a time: the end-to-end tests spend much of their time waiting on the
        // processes they spawn (the CLI, PostgreSQL, mkfs), and each file works in temp dirs and
        // mounts of its own. Waits are on observed state (a catalog row, a line of output), not
        // on the clock, so a busier machine makes them slower, not wrong.
        test: {
          ...common,
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: ALONE,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: 'alone',
          include: ALONE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
