import { describe, expect, it } from 'vitest';
import { eachBatch, eachBounded } from './each-bounded';

describe('eachBounded', () => {
  it('keeps the input order and never runs more than `width` at once', async () => {
    let running = 0;
    let most = 0;
    const out = await eachBounded([5, 1, 4, 2, 3], 2, async (n) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n));
      running -= 1;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});

describe('eachBatch', () => {
  it('gives each distinct item once, in batches of at most `size`, `width` batches at a time', async () => {
    const seen: string[][] = [];
    let running = 0;
    let most = 0;
    const ids = Array.from({ length: 230 }, (_, i) => `v${i}`);
    await eachBatch([...ids, 'v0', 'v229'], 100, 2, async (batch) => {
      running += 1;
      most = Math.max(most, running);
      seen.push(batch);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
    });
    expect(seen.map((b) => b.length)).toEqual([100, 100, 30]);
    expect(seen.flat().sort()).toEqual([...ids].sort());
    expect(most).toBe(2);
  });

  it('calls nothing for no items, and a failing batch fails the whole', async () => {
    let calls = 0;
    await eachBatch([], 100, 8, async () => void (calls += 1));
    expect(calls).toBe(0);
    await expect(eachBatch(['a', 'b', 'c'], 1, 2, async (b) => (b[0] === 'b' ? Promise.reject(new Error('down')) : undefined))).rejects.toThrow('down');
  });
});
