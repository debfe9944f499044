// Paths, tree specs and limits shared by every part of the benchmark.

import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(BENCH_DIR, '..');
export const SHARED = path.resolve(REPO, '../shared');
export const MKTREE = path.join(SHARED, 'tools', 'mktree.py');
export const CLI = path.join(REPO, 'dist', 'cli', 'main.js');
export const READALL = path.join(BENCH_DIR, 'readall.py');
export const CACHE = path.join(BENCH_DIR, '.cache');
export const TREES_DIR = path.join(CACHE, 'trees');
// Scratch space of this invocation (catalogs, copies, peer cwd); removed on exit.
export const WORK = path.join(CACHE, `work-${process.pid}`);
export const GNU_TIME = '/usr/bin/time';
export const NODE = process.execPath;

export const TREE_SPECS = {
  reference: { name: 'reference', files: 100000, totalMb: 2048, seed: 1 },
  quick: { name: 'quick', files: 3000, totalMb: 60, seed: 1 },
  million: { name: '1M files', files: 1000000, totalMb: 1024, seed: 1 },
};

// Targets of DESIGN.md §6. RSS limits use decimal megabytes (the stricter reading of "MB").
export const MB = 1e6;
export const RSS_LIMIT_REF = 200 * MB;
export const RSS_LIMIT_MILLION = 512 * MB;
export const DEFAULT_TIMEOUT_S = 120;
export const MILLION_TIMEOUT_FACTOR = 10;
