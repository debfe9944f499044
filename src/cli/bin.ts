#!/usr/bin/env node
/**
 * The installed `hashall` command. Before the command line (the bundle, dist/cli/main.js)
 * loads, it turns on what only applies to modules loaded after it:
 * - V8's compile cache (Node 22.1+; Node 20 has none and runs without it), so the bundle is
 *   not compiled again on every run (README "Performance → Start-up");
 * - under --debug, source maps, so a stack trace names src/ files and lines, not the bundle's.
 */
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
// A static import would be loaded before the lines above run: hence the dynamic one.
await import('./main.js');
