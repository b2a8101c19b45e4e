// A pod already waiting for its designation (POST /v1/grants with `wait`)
// gets its grant as soon as the previous holder lets go, on this broker or
// another one over the same store; a standby of another slot is told to ask
// rarely. Each grant still comes from a fresh read and a commit.

import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { testBroker, type TestBroker } from '../support/fixtures';
import { fetchGrant, importValidator, pod, podHeaders, promote, release, slot0, slot1, status, type TestPod } from './helpers';

const fetchWait = { maxWaitMs: 5_000, pollMs: 50, maxWaiters: 100 };

async function fetchWaiting(b: TestBroker, p: TestPod, wait: number) {
  return b.app.request('/v1/grants', { method: 'POST', headers: await podHeaders(b, p), body: JSON.stringify({ validator: 'v1', ephemeralKey: p.publicJwk, wait }) });
}

/** A holds slot0; the operator promotes slot1 while A still holds, so slot1 must wait out the horizon unless A acknowledges. */
async function promotedWhileHeld(b: TestBroker): Promise<{ a: TestPod; grant: string }> {
  await importValidator(b);
  const a = await pod(slot0);
  const got = await fetchGrant(b, a);
  expect(got.status).toBe(201);
  const { grant } = (await got.json()) as { grant: string };
  expect((await promote(b, slot1)).status).toBe(200);
  return { a, grant };
}

const elapsed = async <T>(p: Promise<T>): Promise<{ value: T; ms: number }> => {
  const t0 = performance.now();
  const value = await p;
  return { value, ms: performance.now() - t0 };
};

describe('fetch with wait', () => {
  it('a pod waiting on the promoted slot is granted the moment the fenced holder acknowledges on the same broker', async () => {
    const b = await testBroker({ fetchWait });
    const { a, grant } = await promotedWhileHeld(b);
    const standby = await pod(slot1);
    const waiting = elapsed(fetchWaiting(b, standby, 5));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    expect((await release(b, a, grant)).status).toBe(200);
    const { value: res } = await waiting;
    const sinceAck = performance.now() - t0;
    expect(res.status).toBe(201);
    // A same-broker acknowledgement wakes at once, not at the next re-read.
    expect(sinceAck).toBeLessThan(1_000);
    const s = await status(b);
    expect(s.designation).toMatchObject({ slot: slot1, podUid: standby.uid, state: 'held' });
    expect((await b.operations.verify()).ok).toBe(true);
  });

  it('wakes through the shared re-read when the acknowledgement lands on another broker over the same store', async () => {
    const state = new SqliteStateStore(':memory:');
    const b1 = await testBroker({ state, fetchWait });
    const b2 = await testBroker({ state, fetchWait, keyStores: b1.parts.keyStores, signer: b1.parts.signer, cluster: b1.cluster, operator: b1.operator, clock: b1.clock });
    const { a, grant } = await promotedWhileHeld(b1);
    const standby = await pod(slot1);
    const waiting = fetchWaiting(b2, standby, 5);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    expect((await release(b1, a, grant)).status).toBe(200);
    const res = await waiting;
    expect(res.status).toBe(201);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('without a change the wait ends with the same 425 and its Retry-After', async () => {
    const b = await testBroker({ fetchWait: { ...fetchWait, maxWaitMs: 300 } });
    await promotedWhileHeld(b);
    const standby = await pod(slot1);
    const { value: res, ms } = await elapsed(fetchWaiting(b, standby, 5));
    expect(res.status).toBe(425);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    // Capped at the broker's maximum (300 ms here), not the 5 s asked for.
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(3_000);
  });

  it('does not hold a request that did not ask to wait, nor one the broker has no watch for', async () => {
    const withWatch = await testBroker({ fetchWait });
    await promotedWhileHeld(withWatch);
    const p1 = await pod(slot1);
    const asked0 = await elapsed(fetchWaiting(withWatch, p1, 0));
    expect(asked0.value.status).toBe(425);
    expect(asked0.ms).toBeLessThan(1_000);

    const noWatch = await testBroker();
    await promotedWhileHeld(noWatch);
    const p2 = await pod(slot1);
    const unheld = await elapsed(fetchWaiting(noWatch, p2, 5));
    expect(unheld.value.status).toBe(425);
    expect(unheld.ms).toBeLessThan(1_000);
  });

  it('a standby of a slot that is not designated is told to ask again after the configured Retry-After, without being held', async () => {
    const b = await testBroker({ fetchWait, standbyRetryAfter: 30 });
    await importValidator(b);
    const standby = await pod(slot1);
    const { value: res, ms } = await elapsed(fetchWaiting(b, standby, 5));
    expect(res.status).toBe(403);
    expect((await res.json()) as { code: string }).toMatchObject({ code: 'not_designated' });
    expect(res.headers.get('retry-after')).toBe('30');
    expect(ms).toBeLessThan(1_000);
  });

  it('refuses a wait outside 0..60 seconds with invalid_request', async () => {
    const b = await testBroker({ fetchWait });
    await importValidator(b);
    const p = await pod(slot0);
    for (const wait of [-1, 61, 1.5]) {
      const res = await fetchWaiting(b, p, wait);
      expect(res.status).toBe(400);
      expect((await res.json()) as { code: string }).toMatchObject({ code: 'invalid_request' });
    }
    expect((await status(b)).designation.state).toBe('vacant');
  });

  it('answers a standby\'s repeated not_designated from a recent read, but reads afresh for a designated pod', async () => {
    const inner = new SqliteStateStore(':memory:');
    let reads = 0;
    const state = new Proxy(inner, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (prop === 'getValidator') return (...a: unknown[]) => (reads++, (v as (...x: unknown[]) => unknown).apply(t, a));
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
      },
    });
    const b = await testBroker({ state, readReuseMs: 60_000 });
    await importValidator(b);
    const standby = await pod(slot1);
    expect((await fetchGrant(b, standby)).status).toBe(403);
    const after = reads;
    b.clock.advance(30_000);
    expect((await fetchGrant(b, standby)).status).toBe(403);
    expect(reads).toBe(after);
    b.clock.advance(30_000);
    expect((await fetchGrant(b, standby)).status).toBe(403);
    expect(reads).toBe(after + 1);
    // The designated pod's grant never comes from a cached read.
    const holder = await pod(slot0);
    expect((await fetchGrant(b, holder)).status).toBe(201);
    expect(reads).toBeGreaterThan(after + 1);
  });
});
