// Reads a validator's key material from its ordered replicas: the first store
// that answers wins, and every store passed over is reported so the broker
// can ledger the fallback with the store's name and a public reason.

import { KeyholdError } from '../core/errors';
import { fingerprint, type KeyMaterial } from '../core/key-material';
import type { KeyStore } from '../ports';

export interface Fallback {
  readonly store: string;
  /** A stable, public reason: an error code or `missing`. */
  readonly reason: string;
}

export interface KeyRead {
  readonly material: KeyMaterial;
  readonly store: string;
  readonly version: string;
  readonly fallbacks: readonly Fallback[];
  /** Set when the material came from the in-memory cache rather than a store. */
  readonly cache?: 'fresh' | 'stale';
}

export interface KeyReader {
  /**
   * The material whose public identifier has `expectedFingerprint`: a replica
   * that serves other material (stale after a rotation, or tampered) is
   * passed over like a failing one.
   */
  read(validator: string, expectedFingerprint: string): Promise<KeyRead>;
  /** The decision the material was read for failed: drop any copy kept of it. */
  forget?(validator: string): void;
}

export const publicReason = (e: unknown): string => {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[a-z_]{1,40}$/.test(code)) return code;
  const name = (e as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
};

export class ReplicatedKeyReader implements KeyReader {
  constructor(private readonly stores: readonly KeyStore[]) {
    if (stores.length === 0) throw new TypeError('at least one key store is required');
  }

  async read(validator: string, expectedFingerprint: string): Promise<KeyRead> {
    const fallbacks: Fallback[] = [];
    for (const store of this.stores) {
      try {
        const got = await store.get(validator);
        if (got && fingerprint(got.material.publicId) === expectedFingerprint) {
          return { material: got.material, store: store.name, version: got.version, fallbacks };
        }
        if (got) for (const f of got.material.files.values()) f.wipe();
        fallbacks.push({ store: store.name, reason: got ? 'fingerprint_mismatch' : 'missing' });
      } catch (e) {
        fallbacks.push({ store: store.name, reason: publicReason(e) });
      }
    }
    throw new KeyReadError(fallbacks);
  }
}

/** No replica could serve: 503, with the per-store reasons for the ledger. */
export class KeyReadError extends KeyholdError {
  constructor(readonly fallbacks: readonly Fallback[]) {
    super('key_store_unavailable', { retryAfter: 10 });
  }
}
