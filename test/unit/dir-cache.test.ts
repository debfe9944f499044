import { describe, expect, it } from 'vitest';
import { dirCacheSize } from '../../src/conductor/execute.js';

describe('the executor directory cache size', () => {
  it('leaves room for a batch of file fds and never drops below 128 or above 8192', () => {
    expect(dirCacheSize(undefined)).toBe(128);
    expect(dirCacheSize(1024)).toBe(128);
    expect(dirCacheSize(4096)).toBe(1024);
    expect(dirCacheSize(20_000)).toBe(8192);
    expect(dirCacheSize(1_048_576)).toBe(8192);
  });
});
