// The cache's own bounds, with timers under the test's control: the wipe at
// the maximum age must happen on time even when nobody reads again.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Secret, fingerprint, type KeyMaterial } from '../core/key-material';
import { CachedKeyReader, type CacheEvent } from './key-cache';
import { KeyReadError, type KeyRead, type KeyReader } from './key-reader';

const publicId = `0x${'ab'.repeat(48)}`;
const fp = fingerprint(publicId);
const material = (): KeyMaterial => ({ format: 'eip2335', publicId, files: new Map([['keystore.json', new Secret(Buffer.from('generated, not a key'))]]) });

/** The cache's source: answers, or fails like every replica being down. */
class Source implements KeyReader {
  failing = false;
  async read(): Promise<KeyRead> {
    if (this.failing) throw new KeyReadError([{ store: 'primary', reason: 'store_unavailable' }]);
    return { material: material(), store: 'primary', version: '1', fallbacks: [] };
  }
}

const opts = { freshMs: 1_000, maxAgeMs: 60_000, maxEntries: 10 };

describe('key cache', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('wipes an entry when it reaches its maximum age, by a timer, without waiting for the next read', async () => {
    const source = new Source();
    const events: CacheEvent[] = [];
    // The clock the cache reads never moves: only the timer can expire the entry.
    const cache = new CachedKeyReader(source, { now: () => 1_000_000 }, opts, (e) => events.push(e));
    const concat = vi.spyOn(Buffer, 'concat');
    await cache.read('v1', fp);
    const sealed = concat.mock.results.map((r) => r.value as Buffer);
    concat.mockRestore();
    expect(cache.size).toBe(1);
    expect(sealed.some((buf) => buf.some((byte) => byte !== 0))).toBe(true);

    vi.advanceTimersByTime(opts.maxAgeMs - 1);
    expect(cache.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(cache.size).toBe(0);
    expect(events).toEqual(['miss', 'expired']);
    for (const buf of sealed) expect(buf.every((byte) => byte === 0)).toBe(true);

    // Nothing is left to serve stale, though by the cache's clock the entry is still young.
    source.failing = true;
    await expect(cache.read('v1', fp)).rejects.toBeInstanceOf(KeyReadError);
  });

  it('a newer read restarts the clock: the old timer does not wipe the new entry', async () => {
    let now = 0;
    const cache = new CachedKeyReader(new Source(), { now: () => now }, opts);
    await cache.read('v1', fp);
    vi.advanceTimersByTime(30_000);
    now += 30_000;
    await cache.read('v1', fp); // past freshMs: read again, remembered again
    vi.advanceTimersByTime(30_000);
    expect(cache.size).toBe(1);
    vi.advanceTimersByTime(30_000);
    expect(cache.size).toBe(0);
  });

  it('never serves an entry past its maximum age by its own clock, whenever the other entries were last swept', async () => {
    let now = 500;
    const source = new Source();
    const events: CacheEvent[] = [];
    const cache = new CachedKeyReader(source, { now: () => now }, opts, (e) => events.push(e));
    await cache.read('v1', fp);
    // Another validator's read sweeps while v1 is still young, and the next sweep is not due yet.
    now = opts.maxAgeMs + 100;
    await cache.read('v2', fp);
    expect(cache.size).toBe(2);
    now = opts.maxAgeMs + 600;
    source.failing = true;
    await expect(cache.read('v1', fp)).rejects.toBeInstanceOf(KeyReadError);
    expect(events).toEqual(['miss', 'miss']);
    expect(cache.size).toBe(1);
    // The younger entry is still served.
    await expect(cache.read('v2', fp)).resolves.toMatchObject({ cache: 'fresh' });
  });

  it('forget drops the entry at once', async () => {
    const events: CacheEvent[] = [];
    const cache = new CachedKeyReader(new Source(), { now: () => 0 }, opts, (e) => events.push(e));
    await cache.read('v1', fp);
    cache.forget('v1');
    cache.forget('v1');
    expect(cache.size).toBe(0);
    expect(events).toEqual(['miss', 'forgotten']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not keep the process alive for a pending wipe', async () => {
    vi.useRealTimers();
    const cache = new CachedKeyReader(new Source(), { now: () => 0 }, opts);
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    await cache.read('v1', fp);
    const timer = setTimeoutSpy.mock.results[0]!.value as NodeJS.Timeout;
    setTimeoutSpy.mockRestore();
    expect(timer.hasRef()).toBe(false);
    cache.clear();
  });
});
