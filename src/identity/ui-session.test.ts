import { describe, expect, it } from 'vitest';
import { memoryOneTimeUse } from './ui-session';

describe('memoryOneTimeUse', () => {
  it('claims an id once while it lives, and forgets it only after it expires', async () => {
    const once = memoryOneTimeUse();
    expect(await once.claim('a', 1000, 0)).toBe(true);
    expect(await once.claim('a', 1000, 999)).toBe(false);
    expect(await once.claim('a', 2000, 1000)).toBe(true);
  });

  it('refuses when full of live ids instead of dropping one that could be claimed again', async () => {
    const once = memoryOneTimeUse(2);
    expect(await once.claim('a', 1000, 0)).toBe(true);
    expect(await once.claim('b', 1000, 0)).toBe(true);
    expect(await once.claim('c', 1000, 0)).toBe(false);
    expect(await once.claim('a', 1000, 500)).toBe(false);
    expect(await once.claim('c', 2000, 1000)).toBe(true);
  });
});
