// Many validators per pod (issue 13): lists in POST /v1/grants and
// /v1/grants/renew, each validator decided and ledgered on its own, and a
// full renewal that touches no key store and writes nothing.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRecord } from '../../src/core/designation';
import { Secret, fingerprint, type KeyMaterial } from '../../src/core/key-material';
import type { KeyStore, StateStore } from '../../src/ports';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { decodeJwt } from 'jose';
import { horizonMs } from '../../src/core/horizon';
import { FaultyStateStore } from '../support/faulty-stores';
import { ManualClock, testBroker, testCluster, testOperator, testServiceAccount, testSigner, testTiming, type TestBroker } from '../support/fixtures';
import { decryptKey, importValidator, pod, podHeaders, promote, renew, slot0, slot1, type TestPod } from './helpers';

type Calls = Map<string, number>;

/** Key material the broker stores and delivers without opening it: random bytes, not a key. */
const opaqueMaterial = (): KeyMaterial => ({
  format: 'eip2335',
  publicId: `0x${randomBytes(48).toString('hex')}`,
  files: new Map([
    ['keystore.json', new Secret(randomBytes(64))],
    ['password.txt', new Secret(randomBytes(16))],
  ]),
});

/** The store as it is, with every method call counted by name. */
function counted<T extends object>(target: T, calls: Calls): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

interface Item {
  readonly validator: string | null;
  readonly outcome: 'issued' | 'renewed' | 'refused';
  readonly grant?: string;
  readonly key?: string;
  readonly epoch?: number;
  readonly code?: string;
  readonly status?: number;
  readonly retryAfter?: number;
  readonly expiresAt?: string;
}

async function fetchMany(b: TestBroker, p: TestPod, validators: string[]) {
  const res = await b.app.request('/v1/grants', { method: 'POST', headers: await podHeaders(b, p), body: JSON.stringify({ validators, ephemeralKey: p.publicJwk }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { results: Item[] }).results;
}

async function renewMany(b: TestBroker, p: TestPod, grants: string[]) {
  const res = await b.app.request('/v1/grants/renew', { method: 'POST', headers: await podHeaders(b, p), body: JSON.stringify({ grants }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { results: Item[] }).results;
}

describe('a list of validators in one fetch', () => {
  it('issues those the pod is designated for, and says per validator why not for the rest', async () => {
    const b = await testBroker();
    await importValidator(b, 'v1');
    await importValidator(b, 'v2');
    await importValidator(b, 'v3', [slot1, slot0]); // designated to the standby slot first
    const a = await pod(slot0);
    const results = await fetchMany(b, a, ['v1', 'v2', 'v3', 'nope']);
    expect(results.map((r) => [r.validator, r.outcome, r.code ?? null])).toEqual([
      ['v1', 'issued', null],
      ['v2', 'issued', null],
      ['v3', 'refused', 'not_designated'],
      ['nope', 'refused', 'not_designated'],
    ]);
    expect(results[2]!.status).toBe(403);
    // Each key is delivered to this pod, encrypted to its ephemeral key, as its own material.
    const keys = await Promise.all(results.slice(0, 2).map((r) => decryptKey(r.key!, a.privateKey)));
    expect(new Set(keys.map((k) => k.material.publicId)).size).toBe(2);
    // Each validator's decision is on its own chain.
    for (const v of ['v1', 'v2']) expect((await b.parts.state.readChain(v, 1, 10)).map((e) => e.action)).toEqual(['key_imported', 'grant_issued']);
    expect((await b.parts.state.readChain('v3', 1, 10)).map((e) => [e.action, e.reason])).toEqual([['key_imported', null], ['denied', 'not_designated']]);
  });

  it('holds the validators it may and makes the pod wait for the one still waiting out the horizon', async () => {
    const b = await testBroker();
    await importValidator(b, 'v1');
    await importValidator(b, 'v2');
    const first = await pod(slot0);
    await fetchMany(b, first, ['v1']);
    // A restarted pod instance: v1 is a takeover (425), v2 is new and issued at once.
    const restarted = await pod(slot0);
    const results = await fetchMany(b, restarted, ['v1', 'v2']);
    expect(results.map((r) => [r.validator, r.outcome, r.code ?? null])).toEqual([['v1', 'refused', 'not_before'], ['v2', 'issued', null]]);
    expect(results[0]!.status).toBe(425);
    expect(results[0]!.retryAfter).toBeGreaterThan(0);
  });

  it('refuses a list with a repeated validator, and changes nothing', async () => {
    const b = await testBroker();
    await importValidator(b, 'v1');
    const a = await pod(slot0);
    const res = await b.app.request('/v1/grants', { method: 'POST', headers: await podHeaders(b, a), body: JSON.stringify({ validators: ['v1', 'v1'], ephemeralKey: a.publicJwk }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid_request');
    expect((await b.parts.state.readChain('v1', 1, 10)).map((e) => e.action)).toEqual(['key_imported']);
  });

  it('refuses a body with both forms at once', async () => {
    const b = await testBroker();
    const a = await pod(slot0);
    const res = await b.app.request('/v1/grants', { method: 'POST', headers: await podHeaders(b, a), body: JSON.stringify({ validator: 'v1', validators: ['v1'], ephemeralKey: a.publicJwk }) });
    expect(res.status).toBe(400);
  });
});

describe('a list of grants in one renewal', () => {
  it('renews the current holders and fences only the validator that was promoted away', async () => {
    const b = await testBroker();
    await importValidator(b, 'v1');
    await importValidator(b, 'v2');
    const a = await pod(slot0);
    const fetched = await fetchMany(b, a, ['v1', 'v2']);
    expect((await promote(b, slot1, 'move v2', 'v2')).status).toBe(200);
    b.clock.advance(10_000);
    const results = await renewMany(b, a, fetched.map((r) => r.grant!));
    expect(results.map((r) => [r.validator, r.outcome, r.code ?? null])).toEqual([['v1', 'renewed', null], ['v2', 'refused', 'stale_epoch']]);
    expect(results[0]).not.toHaveProperty('key');
    expect((await b.parts.state.readChain('v2', 1, 10)).map((e) => [e.action, e.reason]).at(-1)).toEqual(['renew_refused', 'stale_epoch']);
    expect((await b.parts.state.readChain('v1', 1, 10)).map((e) => e.action)).toEqual(['key_imported', 'grant_issued']);
  });

  it('answers a grant that does not verify as invalid_grant for that entry only', async () => {
    const b = await testBroker();
    await importValidator(b, 'v1');
    const a = await pod(slot0);
    const [got] = await fetchMany(b, a, ['v1']);
    const [head, payload] = got!.grant!.split('.');
    const forged = `${head}.${payload}.${'A'.repeat(86)}`;
    const results = await renewMany(b, a, [forged, got!.grant!]);
    expect(results.map((r) => [r.outcome, r.code ?? null])).toEqual([['refused', 'invalid_grant'], ['renewed', null]]);
    expect(results[0]!.validator).toBeNull();
  });

  it('renews 1,000 validators held by one pod in one request, with no key-store read and no state-store write', async () => {
    const stateCalls: Calls = new Map();
    const keyCalls: Calls = new Map();
    const clock = new ManualClock();
    const state: StateStore = counted(new SqliteStateStore(':memory:'), stateCalls);
    const keys: KeyStore = counted(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), keyCalls);
    const b = await testBroker({ clock, state, keyStores: [keys] });
    const ids = Array.from({ length: 1000 }, (_, i) => `v${i}`);
    // Seeded in the stores as an import leaves them: 1,000 checked imports
    // would cost most of a minute, and none of it is what this test measures.
    for (const id of ids) {
      const material = opaqueMaterial();
      await keys.put(id, material);
      await state.commit({ record: { next: createRecord({ id, slots: [slot0, slot1], serviceAccounts: [testServiceAccount], keyFingerprint: fingerprint(material.publicId), keyFormat: material.format, now: clock.now() }), expectedVersion: null }, entries: [] });
    }
    const a = await pod(slot0);
    const fetched = await fetchMany(b, a, ids);
    expect(fetched.filter((r) => r.outcome === 'issued')).toHaveLength(1000);
    b.clock.advance(10_000);
    expect(keyCalls.get('get')).toBe(1000); // the counting sees the fetches' reads
    stateCalls.clear();
    keyCalls.clear();
    const results = await renewMany(b, a, fetched.map((r) => r.grant!));
    expect(results.filter((r) => r.outcome === 'renewed').map((r) => r.validator)).toEqual(ids);
    expect([...keyCalls]).toEqual([]);
    // One batched authoritative read for the whole list, and nothing else.
    expect([...stateCalls]).toEqual([['getValidators', 1]]);
  }, 60_000);
});

describe('a list renewal reads its designations in one batch', () => {
  /** What a pod is told about one grant: renewed until when, or refused with what. */
  const answerOf = (r: { outcome?: string; grant?: string; code?: string; status?: number }) =>
    r.grant ? { renewed: decodeJwt(r.grant).exp } : { code: r.code, status: r.status };

  /** Two broker instances on one state store and signing key: `a` admits the pod, `b` renews. */
  async function twoBrokers() {
    const clock = new ManualClock();
    const faulty = new FaultyStateStore(new SqliteStateStore(':memory:'));
    const calls: Calls = new Map();
    const shared = { clock, signer: await testSigner(), cluster: await testCluster(), operator: await testOperator() };
    const a = await testBroker({ ...shared, state: faulty });
    const b = await testBroker({ ...shared, state: counted<StateStore>(faulty, calls) });
    return { clock, faulty, calls, a, b };
  }

  it('verifies every grant, then reads the designations of the verified ones in one call', async () => {
    const { calls, a, b } = await twoBrokers();
    const ids = ['v1', 'v2', 'v3', 'v4', 'v5'];
    for (const id of ids) await importValidator(a, id);
    const p = await pod(slot0);
    const fetched = await fetchMany(a, p, ids);
    a.clock.advance(5_000);
    calls.clear();
    const results = await renewMany(b, p, [...fetched.map((r) => r.grant!), 'not.a.grant']);
    expect(results.map((r) => [r.validator, r.outcome])).toEqual([...ids.map((id) => [id, 'renewed']), [null, 'refused']]);
    expect([...calls]).toEqual([['getValidators', 1]]);
  });

  it('in an outage answers each validator as its single renewal would: from a read within the horizon, capped at read + H, else 503', async () => {
    const { clock, faulty, a, b } = await twoBrokers();
    for (const id of ['v1', 'v2', 'v3']) await importValidator(a, id);
    const p = await pod(slot0);
    const fetched = await fetchMany(a, p, ['v1', 'v2', 'v3']);
    // b reads v1 and v2 (renewing them), never v3.
    clock.advance(5_000);
    const readAt = clock.now();
    let grants = (await renewMany(b, p, fetched.slice(0, 2).map((r) => r.grant!))).map((r) => r.grant!);
    grants.push(fetched[2]!.grant!);
    faulty.mode = 'down';
    const seen: string[] = [];
    // Renewing every 40 s through the outage, a list and single renewals of the same grants at the same instant.
    for (let step = 0; step < 12; step++) {
      clock.advance(step === 0 ? 1_000 : 40_000);
      const listed = await renewMany(b, p, grants);
      const alone = await Promise.all(
        grants.map(async (g) => {
          const res = await renew(b, p, g);
          const body = (await res.json()) as { grant?: string; code?: string };
          return { ...body, status: res.status };
        }),
      );
      expect(listed.map(answerOf)).toEqual(alone.map(answerOf));
      for (const r of listed) if (r.grant) expect(decodeJwt(r.grant).exp! * 1000).toBeLessThanOrEqual(readAt + horizonMs(testTiming));
      seen.push(listed.map((r) => r.code ?? (decodeJwt(r.grant!).exp! * 1000 === readAt + horizonMs(testTiming) ? 'capped' : 'renewed')).join(','));
      grants = listed.map((r, i) => r.grant ?? grants[i]!);
    }
    // v3, never read by b, is refused from the start (and its grant then runs out); v1 and v2 are
    // renewed from b's read until the grant is capped at read + H, and that grant runs out unrenewed.
    expect(seen[0]).toBe('renewed,renewed,state_store_unavailable');
    expect(seen).toContain('capped,capped,invalid_grant');
    expect(seen.at(-1)).toBe('invalid_grant,invalid_grant,invalid_grant');
  });
});
