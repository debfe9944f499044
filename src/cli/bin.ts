#!/usr/bin/env node
/**
 * The installed `hashall` command. It turns on V8's compile cache (Node 22.1+; absent on 20)
 * before any other module loads — the cache only serves modules compiled after it is on —
 * and then runs the command line. Every command pays Node's start-up; with the cache, a
 * command's ~60 modules are not recompiled on each run (about 15–20 ms of a 140 ms start on
 * Node 26 here). The cache lives in Node's default place (the OS temporary directory).
 */
import module from 'node:module';

// Typed here: @types/node follows the oldest supported line (20), which lacks it.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
// A static import would be loaded before the line above runs: hence the dynamic one.
await import('./main.js');
