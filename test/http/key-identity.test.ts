// Issue 12, section 1: the single-holder invariant is per key, not per
// validator id. A key (its normalised public key) belongs to one validator id
// for ever, and an import proves its material before anything is stored.

import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRecord } from '../../src/core/designation';
import { fingerprint } from '../../src/core/key-material';
import type { StateStore } from '../../src/ports';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { generatedKeyMaterial, testBroker, type TestBroker, testGenesisRoot } from '../support/fixtures';
import { fetchGrant, importValidator, operatorHeaders, pod, slot0, slot1, status } from './helpers';

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function putKey(b: TestBroker, id: string, f: { keystore: string; password: string; publicId: string }, slots: string[]) {
  const path = `/v1/validators/${id}/key`;
  const body = JSON.stringify({ format: 'eip2335', publicId: f.publicId, files: { 'keystore.json': b64(f.keystore), 'password.txt': b64(f.password) }, slots, serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot });
  const res = await b.app.request(path, { method: 'PUT', headers: await operatorHeaders(b, 'PUT', path, body), body });
  return { status: res.status, body: (await res.json()) as { code?: string; fingerprint?: string } };
}

/** Nothing of `id` anywhere: no record, no key store copy, no import in the ledger. */
async function expectNothingFor(b: TestBroker, id: string): Promise<void> {
  expect(await b.parts.state.getValidator(id)).toBeNull();
  for (const ks of b.parts.keyStores) expect(await ks.get(id)).toBeNull();
  const entries = (await b.parts.state.queryLedger({ validator: id, limit: 100 })).entries;
  expect(entries.filter((e) => e.action !== 'denied')).toEqual([]);
}

const vectorDir = new URL('../fixtures/eip2335/', import.meta.url);
const vector = async (kdf: 'scrypt' | 'pbkdf2') => {
  const keystore = await readFile(new URL(`${kdf}.json`, vectorDir), 'utf8');
  return { keystore, password: await readFile(new URL('password.txt', vectorDir), 'utf8'), publicId: `0x${(JSON.parse(keystore) as { pubkey: string }).pubkey}` };
};

describe('one key, one validator id', () => {
  it('refuses v1\'s keystore imported as v1-dup in another slot, and leaves nothing behind', async () => {
    const b = await testBroker();
    const gen = await importValidator(b, 'v1');
    const dup = await putKey(b, 'v1-dup', gen, ['eu1/other/anything-0']);
    expect(dup).toMatchObject({ status: 409, body: { code: 'key_in_use' } });
    await expectNothingFor(b, 'v1-dup');
    // The pod in that slot gets no key.
    const res = await fetchGrant(b, await pod('eu1/other/anything-0'), 'v1-dup');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    // The same key spelled otherwise is the same key.
    for (const publicId of [gen.publicId.slice(2), gen.publicId.toUpperCase().replace(/^0X/, '0x')]) {
      expect(await putKey(b, 'v1-dup', { ...gen, publicId }, ['eu1/other/anything-0'])).toMatchObject({ status: 409, body: { code: 'key_in_use' } });
    }
    await expectNothingFor(b, 'v1-dup');
    // Its own id may import it again (a repair): the key is v1's.
    expect((await putKey(b, 'v1', gen, [slot0, slot1])).status).toBe(201);
    expect(await b.parts.state.keyOwner(gen.publicId.slice(2))).toBe('v1');
  });

  it('refuses a rotation onto another validator\'s key, keeping the rotating validator\'s own material', async () => {
    const b = await testBroker();
    const v1 = await importValidator(b, 'v1', [slot0, slot1]);
    const v2 = await importValidator(b, 'v2', ['eu1/validators/v2-0']);
    expect(await putKey(b, 'v2', v1, ['eu1/validators/v2-0'])).toMatchObject({ status: 409, body: { code: 'key_in_use' } });
    const held = await b.parts.keyStores[0]!.get('v2');
    expect(held?.material.publicId).toBe(v2.publicId);
    expect((await b.parts.state.getValidator('v2'))?.keyFingerprint).toBe(fingerprint(v2.publicId));
    // v1 rotates away from its key; the old key stays v1's for ever.
    const fresh = generatedKeyMaterial();
    expect((await putKey(b, 'v1', fresh, [slot0, slot1])).status).toBe(201);
    expect(await putKey(b, 'v3', v1, ['eu1/validators/v3-0'])).toMatchObject({ status: 409, body: { code: 'key_in_use' } });
    await expectNothingFor(b, 'v3');
  });

  it('counts a key imported before the key index existed as its validator\'s', async () => {
    const b = await testBroker();
    const gen = generatedKeyMaterial();
    // A record as an earlier broker wrote it: the key's fingerprint, no index entry.
    const old = createRecord({ id: 'v0', slots: ['eu1/validators/v0-0'], serviceAccounts: ['validator'], keyFingerprint: fingerprint(gen.publicId), keyFormat: 'eip2335', now: b.clock.now() });
    await b.parts.state.commit({ record: { next: old, expectedVersion: null }, entries: [{ chain: 'v0', time: b.clock.now(), actor: 'test', action: 'key_imported', validator: 'v0', epoch: 1, slot: null, reason: null, details: {} }] });
    expect(await b.parts.state.keyOwner(gen.publicId.slice(2))).toBeNull();
    expect(await putKey(b, 'v1', gen, [slot0])).toMatchObject({ status: 409, body: { code: 'key_in_use' } });
    await expectNothingFor(b, 'v1');
    // Its own validator re-imports it, and the index learns it.
    expect((await putKey(b, 'v0', gen, ['eu1/validators/v0-0'])).status).toBe(201);
    expect(await b.parts.state.keyOwner(gen.publicId.slice(2))).toBe('v0');
  });

  it('lets exactly one of two brokers importing one key under two ids at once take it', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'keyhold-keyrace-')), 'state.db');
    // Both brokers pass the early check before either commits: only the
    // store's transaction can then tell them apart.
    let checked = 0;
    let bothChecked!: () => void;
    const barrier = new Promise<void>((r) => (bothChecked = r));
    const racing = (inner: StateStore): StateStore =>
      new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'keyOwner') {
            return async (key: string) => {
              const owner = await target.keyOwner(key);
              if (++checked === 2) bothChecked();
              return owner;
            };
          }
          if (prop === 'commit') {
            return async (c: Parameters<StateStore['commit']>[0]) => {
              if (c.claimKey !== undefined) await barrier;
              return target.commit(c);
            };
          }
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    const a = await testBroker({ state: racing(new SqliteStateStore(path)) });
    const b = await testBroker({ state: racing(new SqliteStateStore(path)), cluster: a.cluster, operator: a.operator, clock: a.clock });
    const gen = generatedKeyMaterial();
    const results = await Promise.all([putKey(a, 'v1', gen, [slot0]), putKey(b, 'v2', gen, ['eu1/validators/v2-0'])]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(results.find((r) => r.status === 409)?.body.code).toBe('key_in_use');
    const winner = results[0]!.status === 201 ? 'v1' : 'v2';
    expect(await a.parts.state.keyOwner(gen.publicId.slice(2))).toBe(winner);
    expect((await a.parts.state.listValidators()).map((r) => r.id)).toEqual([winner]);
    expect((await status(a, winner)).designation.state).toBe('vacant');
  });
});

describe('import proves its material first', () => {
  it('imports the EIP-2335 test vectors, and refuses each with a wrong password leaving nothing behind', async () => {
    const b = await testBroker();
    const scrypt = await vector('scrypt');
    const pbkdf2 = await vector('pbkdf2');
    const key = scrypt.publicId.slice(2);
    expect(await putKey(b, 'vec', { ...scrypt, password: 'testpassword' }, [slot0])).toMatchObject({ status: 422, body: { code: 'key_password_wrong' } });
    await expectNothingFor(b, 'vec');
    expect(await b.parts.state.keyOwner(key)).toBeNull();
    expect(await putKey(b, 'vec', pbkdf2, [slot0]).then((r) => r.status)).toBe(201);
    expect(await b.parts.state.keyOwner(key)).toBe('vec');
    const stored = await b.parts.keyStores[0]!.get('vec');
    // A wrong password on a validator that exists changes nothing either.
    expect(await putKey(b, 'vec', { ...scrypt, password: `${scrypt.password}x` }, [slot0])).toMatchObject({ status: 422, body: { code: 'key_password_wrong' } });
    expect((await b.parts.keyStores[0]!.get('vec'))?.version).toBe(stored?.version);
    // The scrypt vector holds the same secret: the same validator may carry it, another may not.
    expect((await putKey(b, 'vec', scrypt, [slot0])).status).toBe(201);
    expect(await putKey(b, 'vec-2', { ...pbkdf2, password: 'wrong' }, ['eu1/validators/vec-2-0'])).toMatchObject({ status: 422, body: { code: 'key_password_wrong' } });
    expect(await putKey(b, 'vec-2', pbkdf2, ['eu1/validators/vec-2-0'])).toMatchObject({ status: 409, body: { code: 'key_in_use' } });
    await expectNothingFor(b, 'vec-2');
  }, 120_000);

  it('refuses a keystore whose pubkey is not the key it holds', async () => {
    const b = await testBroker();
    const gen = generatedKeyMaterial();
    const other = generatedKeyMaterial();
    const lying = JSON.stringify({ ...JSON.parse(gen.keystore), pubkey: other.publicId.slice(2) });
    expect(await putKey(b, 'v1', { keystore: lying, password: gen.password, publicId: other.publicId }, [slot0])).toMatchObject({ status: 422, body: { code: 'key_material_invalid' } });
    expect(await putKey(b, 'v1', { ...gen, publicId: other.publicId }, [slot0])).toMatchObject({ status: 422, body: { code: 'key_material_invalid' } });
    await expectNothingFor(b, 'v1');
  });
});
