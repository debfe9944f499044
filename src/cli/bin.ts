#!/usr/bin/env node
/**
 * The installed `hashall` command. Before the entry (dist/cli/main.js) loads, it turns on
 * Node's compile cache (Node 22.1+; Node 20 has none and runs without it) for the ES modules
 * loaded after it: the entry and the worker threads' files. The program itself, one CommonJS
 * file, has a code cache of its own on every line (code-cache.ts, bench/NOTES.md "Start-up").
 */
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
// A static import would be loaded before the line above runs: hence the dynamic one.
await import('./main.js');
