// The broker's fetch flow with each cloud store as its key store: an operator
// imports through the HTTP API, the pod fetches, and the JWE it receives
// decrypts with its ephemeral key to exactly the imported material. Also the
// outage stance (invariant 6): with the cloud store down, the next replica serves.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshValidator } from '../../src/stores/key-store.contract';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import type { KeyStore } from '../../src/ports';
import { decryptKey, fetchGrant, importValidator, pod, slot0, slot1 } from '../http/helpers';
import { describeWithMoto } from '../moto';
import { ManualClock, testBroker } from '../support/fixtures';
import { awsRig, gcpRig, vaultRig, type StoreRig } from './rigs';

function describeFetch(makeRig: (clock: ManualClock) => Promise<StoreRig>): void {
  const clock = new ManualClock();
  let rig: StoreRig;
  const stores: KeyStore[] = [];
  beforeAll(async () => {
    rig = await makeRig(clock);
  });
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    await rig?.close();
  });

  it('import, then fetch: the JWE decrypts to the imported material', async () => {
    const store = await rig.makeStore();
    stores.push(store);
    const b = await testBroker({ keyStores: [store], clock });
    const validator = freshValidator('fetch');
    const gen = await importValidator(b, validator);

    // The material sits in the cloud store, under keyhold's name for it.
    expect((await store.get(validator))?.material.publicId).toBe(gen.publicId);

    const p = await pod(slot0);
    const res = await fetchGrant(b, p, validator);
    expect(res.status).toBe(201);
    const body = (await res.json()) as { key: string; epoch: number };
    const plain = await decryptKey(body.key, p.privateKey);
    expect(plain.material.publicId).toBe(gen.publicId);
    expect(plain.material.format).toBe('eip2335');
    expect(Buffer.from(plain.material.files['keystore.json']!, 'base64').toString()).toBe(gen.keystore);
    expect(Buffer.from(plain.material.files['password.txt']!, 'base64').toString()).toBe(gen.password);
    // Nothing secret reached a log line.
    expect(b.logs.join('\n')).not.toContain(gen.password);
  });

  it('with the cloud store down, the next replica serves the fetch', async () => {
    const store = await rig.makeStore({ timeoutMs: 300, readAttempts: 1, breakerThreshold: 5, halfOpenAfterMs: 10_000, initialBackoffMs: 5, maxBackoffMs: 5 });
    const local = new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now());
    stores.push(store, local);
    const b = await testBroker({ keyStores: [store, local], clock });
    const validator = freshValidator('fallback');
    const gen = await importValidator(b, validator, [slot0, slot1]);
    rig.faults.set('*', { kind: 'down' });
    try {
      const p = await pod(slot0);
      const res = await fetchGrant(b, p, validator);
      expect(res.status).toBe(201);
      const plain = await decryptKey(((await res.json()) as { key: string }).key, p.privateKey);
      expect(plain.material.publicId).toBe(gen.publicId);
    } finally {
      rig.faults.clear();
    }
  });

  it('a foreign object under keyhold\'s name makes the import fail with 409 key_not_owned', async () => {
    const store = await rig.makeStore();
    stores.push(store);
    const b = await testBroker({ keyStores: [store], clock });
    const validator = freshValidator('foreign');
    await rig.createForeign(validator, '{"v":1,"format":"eip2335","publicId":"0x00","files":{}}');
    await expect(importValidator(b, validator)).rejects.toThrow(/409.*key_not_owned/);
  });
}

describeWithMoto('broker fetch: aws-secrets-manager (moto)', () => describeFetch(awsRig));
describe('broker fetch: gcp-secret-manager (emulator)', () => describeFetch(gcpRig));
describe('broker fetch: vault (emulator)', () => describeFetch(vaultRig));
