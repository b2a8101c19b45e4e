// Invariant 6 with stores that fail: reads fall back across replicas in
// order, the cache serves within its bounds and refuses beyond them, and
// while the state store is down current holders renew up to the horizon and
// nobody new is admitted. Each fallback and stale read is in the ledger.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CachedKeyReader } from '../../src/broker/key-cache';
import { ReplicatedKeyReader, type KeyRead } from '../../src/broker/key-reader';
import { horizonMs } from '../../src/core/horizon';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { decryptKey, fetchGrant, importValidator, operatorHeaders, pod, promote, release, renew, slot0, slot1 } from '../http/helpers';
import { ManualClock, testBroker, testGenesisRoot, testTiming } from '../support/fixtures';
import { FaultyKeyStore, FaultyStateStore } from '../support/faulty-stores';

const cacheOpts = { freshMs: 30_000, maxAgeMs: 300_000, maxEntries: 10 };

async function setup(opts: { cache?: typeof cacheOpts } = {}) {
  const clock = new ManualClock();
  const primary = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), 'primary');
  const replica = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), 'replica');
  const state = new FaultyStateStore(new SqliteStateStore(':memory:'));
  const cache = new CachedKeyReader(new ReplicatedKeyReader([primary, replica]), clock, opts.cache ?? { freshMs: 0, maxAgeMs: 0, maxEntries: 10 });
  const b = await testBroker({ clock, state, keyStores: [primary, replica], keyReader: cache });
  const gen = await importValidator(b);
  return { b, clock, primary, replica, state, cache, gen };
}

const actions = async (b: Awaited<ReturnType<typeof testBroker>>) =>
  (await b.parts.state.readChain('v1', 1, 1000)).map((e) => (e.action === 'store_fallback' || e.action === 'cache_served' ? `${e.action}:${e.details.store ?? ''}:${e.reason}` : e.action));

describe('replicated key material', () => {
  it('writes every replica on import', async () => {
    const { primary, replica } = await setup();
    expect((await primary.list()).map((k) => k.validator)).toEqual(['v1']);
    expect((await replica.list()).map((k) => k.validator)).toEqual(['v1']);
  });

  for (const mode of ['down', 'error', 'wrong_material'] as const) {
    it(`falls back to the next replica when the primary is ${mode}, and ledgers why`, async () => {
      const { b, primary, gen } = await setup();
      primary.mode = mode;
      const a = await pod(slot0);
      const res = await fetchGrant(b, a);
      expect(res.status).toBe(201);
      const plain = await decryptKey(((await res.json()) as { key: string }).key, a.privateKey);
      expect(plain.material.publicId).toBe(gen.publicId);
      const reason = mode === 'wrong_material' ? 'fingerprint_mismatch' : 'store_unavailable';
      expect(await actions(b)).toEqual(['key_imported', `store_fallback:primary:${reason}`, 'grant_issued']);
      const issued = (await b.parts.state.readChain('v1', 1, 10)).at(-1)!;
      expect(issued.details.keyStore).toBe('replica');
    });
  }

  it('falls back within bounded time when the primary hangs, through the timeout and then the open breaker', async () => {
    const { resilientKeyStore } = await import('../../src/stores/resilience');
    const clock = new ManualClock();
    const hanging = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), 'primary');
    const guarded = resilientKeyStore(hanging, { timeoutMs: 100, readAttempts: 1, breakerThreshold: 2, halfOpenAfterMs: 60_000, initialBackoffMs: 1, maxBackoffMs: 1 });
    const replica = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), 'replica');
    const b = await testBroker({ clock, keyStores: [guarded, replica] });
    await importValidator(b);
    hanging.mode = 'hang';
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const a = await pod(slot0);
      const res = await fetchGrant(b, a);
      expect(res.status).toBe(201);
      expect(performance.now() - started).toBeLessThan(1000);
      const { grant } = (await res.json()) as { grant: string };
      await release(b, a, grant);
    }
    // Two timeouts open the breaker; the third read never reaches the hanging store.
    expect(hanging.reads).toBe(2);
    expect(guarded.breakerState()).toBe('open');
    const fallbacks = (await b.parts.state.readChain('v1', 1, 100)).filter((e) => e.action === 'store_fallback');
    expect(fallbacks.map((e) => e.reason)).toEqual(['store_unavailable', 'store_unavailable', 'store_unavailable']);
  });

  it('answers 503 key_store_unavailable when every replica fails, ledgering each store', async () => {
    const { b, primary, replica } = await setup();
    primary.mode = 'down';
    replica.mode = 'error';
    const res = await fetchGrant(b, await pod(slot0));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    expect(await res.json()).toMatchObject({ code: 'key_store_unavailable' });
    const last = (await b.parts.state.readChain('v1', 1, 10)).at(-1)!;
    expect(last).toMatchObject({ action: 'denied', reason: 'key_store_unavailable', details: { 'store:primary': 'store_unavailable', 'store:replica': 'store_unavailable' } });
    expect((await b.parts.state.getValidator('v1'))!.designation.state).toBe('vacant');
  });

  it('repairs one replica with an import naming only that store, and refuses other material there', async () => {
    const { b, gen } = await setup();
    const clock2 = new ManualClock();
    const fresh = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock2.now()), 'fresh');
    const b2 = await testBroker({ clock: b.clock, cluster: b.cluster, operator: b.operator, state: b.parts.state, keyStores: [...b.parts.keyStores, fresh] });
    const files = Object.fromEntries([...gen.material.files].map(([n, f]) => [n, Buffer.from(f.reveal()).toString('base64')]));
    const put = async (body: object) => {
      const path = '/v1/validators/v1/key';
      const text = JSON.stringify(body);
      return b2.app.request(path, { method: 'PUT', headers: await operatorHeaders(b2, 'PUT', path, text), body: text });
    };
    const same = { format: 'eip2335', publicId: gen.publicId, files, slots: [slot0, slot1], serviceAccounts: ['validator'], genesisValidatorsRoot: testGenesisRoot };
    expect((await put({ ...same, stores: ['nope'] })).status).toBe(400);
    const res = await put({ ...same, stores: ['fresh'] });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { replicas: { store: string }[] }).replicas.map((r) => r.store)).toEqual(['fresh']);
    expect((await fresh.list()).map((k) => k.validator)).toEqual(['v1']);
    const { generatedKeyMaterial } = await import('../support/fixtures');
    const other = generatedKeyMaterial();
    const otherFiles = Object.fromEntries([...other.material.files].map(([n, f]) => [n, Buffer.from(f.reveal()).toString('base64')]));
    expect((await put({ ...same, publicId: other.publicId, files: otherFiles, stores: ['fresh'] })).status).toBe(409);
  });

  it('reports replicas that are missing or differ', async () => {
    const { b, replica } = await setup();
    const { generatedKeyMaterial } = await import('../support/fixtures');
    await replica.put('v1', generatedKeyMaterial().material);
    const path = '/v1/keys/check';
    const res = await b.app.request(path, { headers: await operatorHeaders(b, 'GET', path) });
    const body = (await res.json()) as { ok: boolean; replicas: { store: string; status: string }[] };
    expect(body.ok).toBe(false);
    expect(body.replicas.map((r) => [r.store, r.status])).toEqual([['primary', 'ok'], ['replica', 'differs']]);
  });
});

describe('bounded key cache', () => {
  it('serves a fresh entry without a store read', async () => {
    const { b, primary } = await setup({ cache: cacheOpts });
    await fetchGrant(b, await pod(slot0));
    const reads = primary.reads;
    await fetchGrant(b, await pod(slot0)); // another pod: refused, no key read at all
    const a = await pod(slot1);
    await promote(b, slot1);
    expect((await fetchGrant(b, a)).status).toBe(425);
    expect(primary.reads).toBe(reads);
  });

  it('serves stale only while every store fails, up to the maximum age, and ledgers it', async () => {
    const { b, clock, primary, replica, cache } = await setup({ cache: cacheOpts });
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    await release(b, a, grant);
    clock.advance(cacheOpts.freshMs + 1);
    primary.mode = 'down';
    replica.mode = 'down';
    const a2 = await pod(slot0);
    const res = await fetchGrant(b, a2);
    expect(res.status).toBe(201);
    expect((await actions(b)).slice(-4)).toEqual(['store_fallback:primary:store_unavailable', 'store_fallback:replica:store_unavailable', 'cache_served::all_stores_failing', 'grant_issued']);
    // Past the maximum age the entry is wiped and nothing is served.
    const { grant: g2 } = (await res.json()) as { grant: string };
    await release(b, a2, g2);
    clock.advance(cacheOpts.maxAgeMs);
    const late = await fetchGrant(b, await pod(slot0));
    expect(late.status).toBe(503);
    expect(cache.size).toBe(0);
  });

  it('wipes the material it read, and drops the cached entry, when the decision it was read for fails', async () => {
    const { b, state, cache } = await setup({ cache: cacheOpts });
    const handedOut: KeyRead[] = [];
    const watching = await testBroker({
      clock: b.clock,
      state,
      keyStores: b.parts.keyStores,
      cluster: b.cluster,
      operator: b.operator,
      keyReader: { read: async (v, fp) => { const r = await cache.read(v, fp); handedOut.push(r); return r; }, forget: (v) => cache.forget(v) },
    });
    state.mode = 'commits_down';
    expect((await fetchGrant(watching, await pod(slot0))).status).toBe(503);
    expect(cache.size).toBe(0);
    expect(handedOut).toHaveLength(1);
    for (const f of handedOut[0]!.material.files.values()) expect(f.reveal().every((byte) => byte === 0)).toBe(true);
    state.mode = 'ok';
    expect((await fetchGrant(watching, await pod(slot0))).status).toBe(201);
    expect(cache.size).toBe(1);
  });

  it('does not serve a cached entry whose fingerprint no longer matches the record', async () => {
    const { b, clock, primary, replica } = await setup({ cache: cacheOpts });
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    await release(b, a, grant);
    const rotated = await importValidator(b); // same slots, new material
    primary.mode = 'down';
    replica.mode = 'down';
    clock.advance(1);
    expect((await fetchGrant(b, await pod(slot0))).status).toBe(503);
    primary.mode = 'ok';
    const a3 = await pod(slot0);
    const res = await fetchGrant(b, a3);
    const plain = await decryptKey(((await res.json()) as { key: string }).key, a3.privateKey);
    expect(plain.material.publicId).toBe(rotated.publicId);
  });
});

describe('state store outage', () => {
  it('keeps the holder renewing up to read time + H, admits nobody new, and needs no repair after', async () => {
    const { b, clock, state } = await setup();
    const a = await pod(slot0);
    let { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    const lastRead = clock.now();
    state.mode = 'down';
    const writes = state.writes;
    const H = horizonMs(testTiming);
    while (clock.now() + testTiming.grantTtlMs / 3 < lastRead + H - 1000) {
      clock.advance(testTiming.grantTtlMs / 3);
      const res = await renew(b, a, grant);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { grant: string; expiresAt: string };
      expect(Date.parse(body.expiresAt)).toBeLessThanOrEqual(lastRead + H);
      grant = body.grant;
    }
    // The last grant ends exactly at the horizon, however often it was renewed...
    clock.t = lastRead + H - 1;
    const last = await renew(b, a, grant);
    expect(last.status).toBe(200);
    expect(Date.parse(((await last.json()) as { expiresAt: string }).expiresAt)).toBe(Math.floor((lastRead + H) / 1000) * 1000);
    // ...and at the horizon the holder has nothing left to renew with.
    clock.t = lastRead + H;
    const expired = await renew(b, a, grant);
    expect(expired.status).toBe(401);

    const newcomer = await fetchGrant(b, await pod(slot0));
    expect(newcomer.status).toBe(503);
    expect(newcomer.headers.get('retry-after')).toBe('5');
    expect((await promote(b, slot1)).status).toBe(503);
    expect((await release(b, a, grant)).status).toBe(503);
    expect(state.writes).toBe(writes);

    state.mode = 'ok';
    const again = await fetchGrant(b, a);
    expect(again.status).toBe(201);
    expect(((await again.json()) as { epoch: number }).epoch).toBe(1);
  });

  it('reports readiness as degraded, not down, so the broker stays in rotation', async () => {
    const { b, state, primary } = await setup();
    state.mode = 'down';
    primary.mode = 'down';
    const res = await b.app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'degraded', stores: [{ role: 'state', status: 'down' }, { name: 'primary', status: 'down' }, { name: 'replica', status: 'ready' }] });
  });
});

describe('a 10-minute outage of the primary key store', () => {
  it('keeps the holder renewing throughout, hands a clean restart its key from the replica, and tells the story in order', async () => {
    const { b, clock, primary } = await setup();
    const a = await pod(slot0);
    let { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    primary.mode = 'down';
    const start = clock.now();
    let renewals = 0;
    while (clock.now() - start < 10 * 60_000) {
      clock.advance(testTiming.grantTtlMs / 3);
      const res = await renew(b, a, grant);
      expect(res.status).toBe(200);
      grant = ((await res.json()) as { grant: string }).grant;
      renewals += 1;
      if (renewals === 15) {
        // Halfway: the holder restarts cleanly; its successor must get the key from the replica.
        expect((await release(b, a, grant)).status).toBe(200);
        const next = await pod(slot0);
        const res2 = await fetchGrant(b, next);
        expect(res2.status).toBe(201);
        Object.assign(a, next);
        grant = ((await res2.json()) as { grant: string }).grant;
      }
    }
    expect(renewals).toBe(30);
    primary.mode = 'ok';
    expect(await actions(b)).toEqual(['key_imported', 'grant_issued', 'released', 'store_fallback:primary:store_unavailable', 'grant_issued']);
    const entries = await b.parts.state.readChain('v1', 1, 100);
    expect(entries.map((e) => e.time)).toEqual([...entries.map((e) => e.time)].sort((x, y) => x - y));
    expect(entries.at(-1)).toMatchObject({ epoch: 2, details: { keyStore: 'replica' } });
  });
});
