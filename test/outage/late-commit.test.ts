// Reproductions of issue 12 §2: a decision's commit can land long after the
// decision (a store call that timed out while its write kept going, a frozen
// function resumed later, a slow commit just before an outage). Time must be
// counted from when the decision can last land, so no late landing lets a
// new holder in while the old holder's grant is still valid.

import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { resilientStateStore, type ResilienceOptions } from '../../src/stores/resilience';
import { fetchGrant, importValidator, pod, promote, renew, slot0, slot1, type TestPod } from '../http/helpers';
import { InFlightStateStore } from '../support/in-flight-commits';
import { testBroker, type TestBroker } from '../support/fixtures';

const quick: ResilienceOptions = { timeoutMs: 300, readAttempts: 1, breakerThreshold: 1000, halfOpenAfterMs: 60_000, initialBackoffMs: 5, maxBackoffMs: 20 };
const s = 1000;

async function setup() {
  const inFlight = new InFlightStateStore(new SqliteStateStore(':memory:'));
  const b = await testBroker({ state: resilientStateStore(inFlight, quick) });
  await importValidator(b);
  return { b, inFlight };
}

/** A holder as its keeper counts: valid until sentAt + (exp - iat) of its last grant. */
class Holder {
  grant = '';
  validUntil = 0;
  constructor(
    readonly b: TestBroker,
    readonly p: TestPod,
  ) {}
  async fetch(): Promise<number> {
    const sentAt = this.b.clock.now();
    const res = await fetchGrant(this.b, this.p);
    if (res.status === 201) this.take(sentAt, (await res.json()) as { grant: string; expiresAt: string });
    return res.status;
  }
  async renew(): Promise<number> {
    const sentAt = this.b.clock.now();
    const res = await renew(this.b, this.p, this.grant);
    if (res.status === 200) this.take(sentAt, (await res.json()) as { grant: string; expiresAt: string });
    // Fenced: the keeper stops at once. Unanswered (503): it holds on until its grant runs out.
    else if (res.status === 409) this.validUntil = Math.min(this.validUntil, sentAt);
    return res.status;
  }
  private take(sentAt: number, body: { grant: string; expiresAt: string }) {
    this.grant = body.grant;
    this.validUntil = Math.max(this.validUntil, sentAt + (Date.parse(body.expiresAt) - this.b.clock.now()));
  }
}

describe('a commit that lands late', () => {
  it('a promotion answered 503 whose write a resumed function sends later does not let the standby in while the old grant is valid', async () => {
    const { b, inFlight } = await setup();
    const old = new Holder(b, await pod(slot0));
    expect(await old.fetch()).toBe(201);
    const decidedAt = b.clock.now();
    // The function freezes with the promotion's commit not yet sent; the operator sees 503.
    inFlight.catchNext('frozen');
    expect((await promote(b, slot1)).status).toBe(503);
    // The old holder keeps renewing from the designation it still reads.
    for (let t = 20 * s; t <= 340 * s; t += 20 * s) {
      b.clock.t = decidedAt + t;
      expect(await old.renew()).toBe(200);
    }
    // Resumed much later, the function sends what it still holds.
    b.clock.t = decidedAt + 350 * s;
    await inFlight.release();
    const standby = new Holder(b, await pod(slot1));
    for (let t = 351 * s; t <= 500 * s; t += 5 * s) {
      b.clock.t = decidedAt + t;
      if (t % (20 * s) === 0) await old.renew();
      if ((await standby.fetch()) === 201) {
        expect(b.clock.now(), 'the standby was admitted while the old grant was valid').toBeGreaterThanOrEqual(old.validUntil);
        break;
      }
    }
  });

  it('a takeover whose slow commit lands just before a state-store outage does not admit the new holder before the old grant ends', async () => {
    const { b, inFlight } = await setup();
    const old = new Holder(b, await pod(slot0));
    expect(await old.fetch()).toBe(201);
    const t0 = b.clock.now();
    b.clock.t = t0 + 30 * s;
    expect(await old.renew()).toBe(200);
    // A restart in the slot: the takeover's commit is sent but the store applies it only later; the call times out.
    const next = new Holder(b, await pod(slot0));
    inFlight.catchNext('slow');
    expect(await next.fetch()).toBe(503);
    // The old holder reads the old designation once more just before the
    // commit lands, 9.5 s after the decision: within the 10 s deadline C of testTiming.
    b.clock.t = t0 + 30 * s + 8500;
    expect(await old.renew()).toBe(200);
    b.clock.t += 1000;
    expect(await inFlight.release()).toBe('landed');
    // Then the state store goes down: the old holder renews from its last read, up to the horizon.
    inFlight.mode = 'down';
    for (let i = 1; ; i++) {
      b.clock.t = t0 + 30 * s + i * 20 * s;
      if ((await old.renew()) !== 200) break;
    }
    inFlight.mode = 'ok';
    // Back: the new pod asks again, second by second.
    for (let t = t0 + 380 * s; t <= t0 + 500 * s; t += s) {
      b.clock.t = t;
      if ((await next.fetch()) === 201) {
        expect(b.clock.now(), 'the new holder was admitted while the old grant was valid').toBeGreaterThanOrEqual(old.validUntil);
        return;
      }
    }
    throw new Error('the new holder was never admitted');
  });
});
