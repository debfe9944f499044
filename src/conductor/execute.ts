/** The executor lives in execute/ (run loop, verification, one replacer per mode); this path stays for its importers. */
export * from './execute/index.js';
