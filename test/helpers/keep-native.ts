/**
 * Loaded first in every test process (vitest.config.ts, setupFiles): the tests read catalogs
 * with `new Database(...)` of their own, and on Node 24 such an object that became garbage
 * aborted vitest's worker processes now and then after their tests had passed ("Worker exited
 * unexpectedly", 15 times in one run of the suite). So a test process keeps every better-sqlite3
 * object it makes, as the commands do, by the same code (src/catalog/native-handles.ts says why).
 */
import { keepEveryNativeObject } from '../../src/catalog/native-handles.js';

keepEveryNativeObject();
