// The bounded key cache of invariant 6. Each broker instance keeps material
// it has read, sealed with a key that exists only in this process's memory;
// nothing is cached on disk. An entry is served without a store read while
// fresh, and past that only while every store for that validator is failing,
// up to a maximum age. Then a timer wipes it: an idle broker must not keep a
// key in memory for hours just because nobody asked for it again.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseKeyMaterial, serializeKeyMaterial } from '../core/key-material';
import type { Clock } from '../ports';
import { KeyReadError, type KeyRead, type KeyReader } from './key-reader';

export interface KeyCacheOptions {
  /** Served without a store read while younger than this, ms. 0: always read the stores. */
  readonly freshMs: number;
  /** Served when every store fails while younger than this, ms; older entries are wiped. */
  readonly maxAgeMs: number;
  readonly maxEntries: number;
}

const sweepEveryMs = 1000;

export type CacheEvent = 'fresh_hit' | 'stale_served' | 'miss' | 'refused_expired' | 'expired' | 'forgotten';

interface Entry {
  readonly fetchedAt: number;
  readonly fingerprint: string;
  readonly store: string;
  readonly version: string;
  readonly nonce: Buffer;
  readonly sealed: Buffer;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class CachedKeyReader implements KeyReader {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly inner: KeyReader,
    private readonly clock: Clock,
    private readonly opts: KeyCacheOptions,
    private readonly onEvent: (e: CacheEvent) => void = () => {},
  ) {
    if (opts.freshMs > opts.maxAgeMs) throw new TypeError('the fresh period cannot exceed the maximum age');
  }

  async read(validator: string, expectedFingerprint: string): Promise<KeyRead> {
    const now = this.clock.now();
    this.sweep(now);
    let cached = this.#entries.get(validator);
    // Checked here whatever the sweep did: an entry past its maximum age is never served.
    if (cached && now - cached.fetchedAt > this.opts.maxAgeMs) {
      this.drop(validator);
      cached = undefined;
    }
    const usable = cached && cached.fingerprint === expectedFingerprint ? cached : undefined;
    if (usable && now - usable.fetchedAt < this.opts.freshMs) {
      this.onEvent('fresh_hit');
      return this.open(validator, usable, [], 'fresh');
    }
    try {
      const read = await this.inner.read(validator, expectedFingerprint);
      this.remember(validator, read, expectedFingerprint, now);
      this.onEvent('miss');
      return read;
    } catch (e) {
      if (e instanceof KeyReadError && usable) {
        this.onEvent('stale_served');
        return this.open(validator, usable, e.fallbacks, 'stale');
      }
      if (e instanceof KeyReadError && cached) this.onEvent('refused_expired');
      throw e;
    }
  }

  /** Entries held now (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** The decision this material was read for failed: wipe what is held for the validator. */
  forget(validator: string): void {
    if (this.drop(validator)) this.onEvent('forgotten');
  }

  /** Wipe everything (shutdown). */
  clear(): void {
    for (const validator of [...this.#entries.keys()]) this.drop(validator);
  }

  private remember(validator: string, read: KeyRead, fingerprint: string, now: number): void {
    if (this.opts.maxAgeMs <= 0) return;
    const plain = serializeKeyMaterial(read.material);
    try {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
      cipher.setAAD(Buffer.from(validator));
      const sealed = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      this.drop(validator);
      // Bounded: the oldest entry makes room (Map keeps insertion order).
      while (this.#entries.size >= this.opts.maxEntries) this.drop(this.#entries.keys().next().value as string);
      // Unref'd: a pending wipe must not keep a process (or a function instance) alive.
      const timer = setTimeout(() => {
        if (this.#entries.get(validator)?.sealed === sealed && this.drop(validator)) this.onEvent('expired');
      }, this.opts.maxAgeMs);
      timer.unref();
      this.#entries.set(validator, { fetchedAt: now, fingerprint, store: read.store, version: read.version, nonce, sealed, timer });
    } finally {
      plain.fill(0);
    }
  }

  private open(validator: string, e: Entry, fallbacks: KeyRead['fallbacks'], cache: 'fresh' | 'stale'): KeyRead {
    const decipher = createDecipheriv('aes-256-gcm', this.#key, e.nonce);
    const body = e.sealed.subarray(0, e.sealed.length - 16);
    decipher.setAuthTag(e.sealed.subarray(e.sealed.length - 16));
    decipher.setAAD(Buffer.from(validator));
    const plain = Buffer.concat([decipher.update(body), decipher.final()]);
    try {
      return { material: parseKeyMaterial(plain), store: e.store, version: e.version, fallbacks, cache };
    } finally {
      plain.fill(0);
    }
  }

  /**
   * Drop what is past its maximum age by this cache's clock (the timers go
   * by real time). At most once a second: a walk of every entry on every
   * read showed in the grant profile, and read() checks its own entry.
   */
  private sweep(now: number): void {
    if (Math.abs(now - this.lastSweep) < sweepEveryMs) return;
    this.lastSweep = now;
    for (const [validator, e] of this.#entries) if (now - e.fetchedAt > this.opts.maxAgeMs) this.drop(validator);
  }

  private lastSweep = -Infinity;

  private drop(validator: string): boolean {
    const e = this.#entries.get(validator);
    if (!e) return false;
    clearTimeout(e.timer);
    e.sealed.fill(0);
    e.nonce.fill(0);
    this.#entries.delete(validator);
    return true;
  }
}
