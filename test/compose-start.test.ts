// composeBroker opens the state store, the key stores and the signing key
// ring together, so a function's cold start waits for the slowest of them
// rather than their sum; and a start that fails leaves nothing open and names
// the same failure as opening them one after another would.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { composeBroker, type SigningKeySource } from '../src/compose';
import { ConfigError, parseConfig } from '../src/config';
import { generateSigningJwk } from '../src/grants/signer';
import { memoryLogger } from '../src/log';
import type { StateStore } from '../src/ports';
import { keyStoreFactories, stateStoreFactories } from '../src/stores/registry';

const config = async () => parseConfig({ KEYHOLD_HOME: join(await mkdtemp(join(tmpdir(), 'keyhold-compose-')), 'h'), KEYHOLD_SIGNING_KEY_SECRET: 'ring' });

/** A promise and the function that settles it, to hold one part of the start back. */
function gate<T>(): { promise: Promise<T>; open(v: T): void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

afterEach(() => vi.restoreAllMocks());

describe('composeBroker', () => {
  it('reads the signing key ring and opens the key stores while the state store is still opening', async () => {
    const realState = stateStoreFactories.sqlite!;
    const held = gate<void>();
    vi.spyOn(stateStoreFactories, 'sqlite').mockImplementation(async (ctx) => {
      await held.promise;
      return realState(ctx);
    });
    const keyStoreOpened = vi.spyOn(keyStoreFactories, 'sqlite');
    const ring = [await generateSigningJwk('k1')];
    const ringRead = gate<void>();
    const source: SigningKeySource = async () => {
      ringRead.open();
      return ring;
    };
    const composing = composeBroker(await config(), { logger: memoryLogger(), signingKeySource: source });
    // Sequentially, the ring would be read only after the state store opened, which the gate forbids.
    await ringRead.promise;
    expect(keyStoreOpened).toHaveBeenCalledTimes(1);
    held.open();
    const broker = await composing;
    expect(broker.parts.signer.jwks().keys.map((k) => k.kid)).toEqual(['k1']);
    await broker.close();
  });

  it('closes the stores that opened when the ring cannot be read, and reports the ring', async () => {
    const closed: string[] = [];
    const realState = stateStoreFactories.sqlite!;
    vi.spyOn(stateStoreFactories, 'sqlite').mockImplementation(async (ctx) => {
      const s = await realState(ctx);
      const close = s.close.bind(s);
      return Object.assign(s, { close: async () => (closed.push('state'), close()) }) as StateStore;
    });
    const realKeys = keyStoreFactories.sqlite!;
    vi.spyOn(keyStoreFactories, 'sqlite').mockImplementation(async (ctx) => {
      const k = await realKeys(ctx);
      const close = k.close.bind(k);
      return Object.assign(k, { close: async () => (closed.push('keys'), close()) });
    });
    const refused = new ConfigError('KEYHOLD_SIGNING_KEY_SECRET: secret "ring" has an empty value');
    const err = await composeBroker(await config(), { logger: memoryLogger(), signingKeySource: async () => Promise.reject(refused) }).catch((e: unknown) => e);
    expect(err).toBe(refused);
    expect(closed.sort()).toEqual(['keys', 'state']);
  });

  it('reports the state store first when it and the ring both fail, as a start in sequence would', async () => {
    const stateRefused = new ConfigError('KEYHOLD_STATE_STORE: refused');
    vi.spyOn(stateStoreFactories, 'sqlite').mockImplementation(async () => {
      // Fails after the ring, so the order reported is not the order of failing.
      await new Promise((r) => setTimeout(r, 20));
      throw stateRefused;
    });
    const err = await composeBroker(await config(), { logger: memoryLogger(), signingKeySource: async () => Promise.reject(new ConfigError('KEYHOLD_SIGNING_KEY_SECRET: ring refused')) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBe(stateRefused);
  });
});
