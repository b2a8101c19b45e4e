// Each flow of DESIGN.md through the HTTP app, with the status and body a
// pod or operator sees, and the ledger entry every decision leaves.

import { describe, expect, it } from 'vitest';
import { horizonMs } from '../../src/core/horizon';
import { testBroker, testTiming } from '../support/fixtures';
import { decryptKey, fetchGrant, importValidator, interchange, operatorHeaders, pod, promote, release, renew, slot0, slot1, status } from './helpers';

const takeoverWait = testTiming.commitDeadlineMs + horizonMs(testTiming) + testTiming.maxClockSkewMs;

async function ledger(b: Awaited<ReturnType<typeof testBroker>>) {
  return (await b.parts.state.readChain('v1', 1, 1000)).map((e) => e.action);
}

describe('fetch', () => {
  it('issues a grant and the key, encrypted to the pod and only to the pod', async () => {
    const b = await testBroker();
    const gen = await importValidator(b);
    const a = await pod(slot0);
    const res = await fetchGrant(b, a);
    expect(res.status).toBe(201);
    const body = (await res.json()) as { grant: string; epoch: number; expiresAt: string; key: string; slot: string };
    expect(body.epoch).toBe(1);
    expect(body.slot).toBe(slot0);
    expect(Date.parse(body.expiresAt)).toBe(Math.floor((b.clock.now() + testTiming.grantTtlMs) / 1000) * 1000);
    const plain = await decryptKey(body.key, a.privateKey);
    expect(plain.material.publicId).toBe(gen.publicId);
    expect(Buffer.from(plain.material.files['keystore.json']!, 'base64').toString()).toBe(gen.keystore);
    expect(Buffer.from(plain.material.files['password.txt']!, 'base64').toString()).toBe(gen.password);
    expect(plain.slashingProtection).toBeNull();
    const other = await pod(slot0);
    await expect(decryptKey(body.key, other.privateKey)).rejects.toThrow();
    expect(await ledger(b)).toEqual(['key_imported', 'grant_issued']);
  });

  it('works with a P-256 ephemeral key too', async () => {
    const b = await testBroker();
    await importValidator(b);
    const { ephemeralKeyPair } = await import('../support/fixtures');
    const k = await ephemeralKeyPair('P-256');
    const a = { ...(await pod(slot0)), ...k };
    const res = await fetchGrant(b, a);
    expect(res.status).toBe(201);
    await decryptKey(((await res.json()) as { key: string }).key, k.privateKey);
  });

  it('re-issues to the same pod instance without a new epoch', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    await fetchGrant(b, a);
    const again = await fetchGrant(b, a);
    expect(again.status).toBe(201);
    expect(((await again.json()) as { epoch: number }).epoch).toBe(1);
    expect(await ledger(b)).toEqual(['key_imported', 'grant_issued', 'grant_reissued']);
  });

  it('makes a restarted pod wait out the horizon (425 with Retry-After), then admits it', async () => {
    const b = await testBroker();
    await importValidator(b);
    await fetchGrant(b, await pod(slot0));
    const a2 = await pod(slot0);
    const res = await fetchGrant(b, a2);
    expect(res.status).toBe(425);
    expect(res.headers.get('retry-after')).toBe(String(Math.ceil(takeoverWait / 1000)));
    expect(await res.json()).toMatchObject({ code: 'not_before' });
    expect((await status(b)).designation).toMatchObject({ epoch: 2, podUid: a2.uid, state: 'held' });
    b.clock.advance(takeoverWait - 1000);
    expect((await fetchGrant(b, a2)).status).toBe(425);
    b.clock.advance(1000);
    const ok = await fetchGrant(b, a2);
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { epoch: number }).epoch).toBe(2);
  });

  it('refuses a pod of a slot that is not designated with 403 not_designated', async () => {
    const b = await testBroker();
    await importValidator(b);
    const res = await fetchGrant(b, await pod(slot1));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: 'not_designated', message: expect.any(String) });
    expect(await ledger(b)).toEqual(['key_imported', 'denied']);
  });

  it('answers an unknown validator exactly as a validator the pod has no slot of, and records it on the broker chain', async () => {
    const b = await testBroker();
    await importValidator(b);
    const stranger = await pod('eu1/validators/elsewhere-0');
    const answer = async (validator: string) => {
      const res = await fetchGrant(b, stranger, validator);
      const headers: [string, string][] = [];
      res.headers.forEach((v, k) => headers.push([k, v]));
      return { status: res.status, headers: headers.filter(([k]) => k !== 'date'), body: await res.text() };
    };
    const unknown = await answer('nope');
    const notYours = await answer('v1');
    expect(unknown).toEqual(notYours);
    expect(unknown.status).toBe(403);
    expect(JSON.parse(unknown.body)).toEqual({ code: 'not_designated', message: expect.any(String) });
    const entries = await b.parts.state.readChain('_broker', 1, 10);
    expect(entries.map((e) => [e.action, e.reason, e.validator])).toEqual([['denied', 'unknown_validator', 'nope']]);
    expect((await b.parts.state.readChain('v1', 1, 10)).map((e) => [e.action, e.reason])).toEqual([['key_imported', null], ['denied', 'not_designated']]);
  });
});

describe('renew', () => {
  it('extends the grant with no key material and no store write', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    const before = await b.parts.state.chainHeads();
    b.clock.advance(20_000);
    const res = await renew(b, a, grant);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('key');
    expect(body.epoch).toBe(1);
    expect(Date.parse(body.expiresAt as string)).toBeGreaterThan(b.clock.now());
    expect(await b.parts.state.chainHeads()).toEqual(before);
  });

  it('refuses a fenced holder with 409 stale_epoch and records the refusal', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    expect((await promote(b, slot1)).status).toBe(200);
    const res = await renew(b, a, grant);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'stale_epoch' });
    expect((await ledger(b)).at(-1)).toBe('renew_refused');
  });

  it('refuses an expired grant', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    b.clock.advance(testTiming.grantTtlMs + 1000);
    const res = await renew(b, a, grant);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'invalid_grant' });
  });
});

describe('release', () => {
  it('hands over at once, with the interchange, to the next pod instance', async () => {
    const b = await testBroker();
    const gen = await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    const sp = interchange(gen.publicId);
    const res = await release(b, a, grant, sp);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ outcome: 'released', epoch: 1, slashingProtection: 'stored' });
    const a2 = await pod(slot0);
    const next = await fetchGrant(b, a2);
    expect(next.status).toBe(201);
    const body = (await next.json()) as { epoch: number; key: string };
    expect(body.epoch).toBe(2);
    const plain = await decryptKey(body.key, a2.privateKey);
    expect(JSON.parse(plain.slashingProtection!)).toEqual(sp);
  });

  it('does not keep an interchange that names another validator\'s key, yet counts the release', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    const res = await release(b, a, grant, interchange(`0x${'11'.repeat(48)}`));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ outcome: 'released', epoch: 1, slashingProtection: 'refused', slashingProtectionCode: 'interchange_foreign_key' });
    expect((await status(b)).designation.state).toBe('released');
  });

  it('lets a holder fenced by promotion acknowledge, so the standby starts at once', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    await promote(b, slot1);
    const standby = await pod(slot1);
    expect((await fetchGrant(b, standby)).status).toBe(425);
    const ack = await release(b, a, grant);
    expect(await ack.json()).toEqual({ outcome: 'acknowledged', epoch: 2, slashingProtection: 'none', stop: 'proven' });
    const res = await fetchGrant(b, standby);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { epoch: number }).epoch).toBe(2);
    expect(await ledger(b)).toEqual(['key_imported', 'grant_issued', 'promoted', 'denied', 'fenced_ack', 'grant_issued']);
  });

  for (const stop of ['unproven', null] as const) {
    it(`records an acknowledgement without evidence (${stop ?? 'no stop field'}) but keeps the standby waiting out the horizon`, async () => {
      const b = await testBroker();
      await importValidator(b);
      const a = await pod(slot0);
      const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
      const promoted = await promote(b, slot1);
      const notBefore = ((await promoted.json()) as { designation: { notBefore: string } }).designation.notBefore;
      const standby = await pod(slot1);
      const ack = await release(b, a, grant, undefined, stop);
      expect(await ack.json()).toEqual({ outcome: 'acknowledged', epoch: 2, slashingProtection: 'none', stop: 'unproven' });
      expect((await b.parts.state.getValidator('v1'))!.designation.notBefore).toBe(Date.parse(notBefore));
      expect((await fetchGrant(b, standby)).status).toBe(425);
      const entry = (await b.parts.state.readChain('v1', 1, 100)).find((e) => e.action === 'fenced_ack')!;
      expect(entry.details.stop).toBe('unproven');
      b.clock.advance(Date.parse(notBefore) - b.clock.now());
      expect((await fetchGrant(b, standby)).status).toBe(201);
    });
  }

  it('refuses a stale epoch that is not the one superseded', async () => {
    const b = await testBroker();
    await importValidator(b);
    const a = await pod(slot0);
    const { grant } = (await (await fetchGrant(b, a)).json()) as { grant: string };
    await promote(b, slot1);
    await promote(b, slot0);
    const res = await release(b, a, grant);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ code: 'stale_epoch' });
  });
});

describe('operators', () => {
  it('promote raises the epoch, vacates the target, and is ledgered with who and why', async () => {
    const b = await testBroker();
    await importValidator(b);
    await fetchGrant(b, await pod(slot0));
    const res = await promote(b, slot1, 'node drain');
    expect(res.status).toBe(200);
    expect((await res.json()) as object).toMatchObject({ designation: { epoch: 2, slot: slot1, state: 'vacant', podUid: null } });
    const last = (await b.parts.state.readChain('v1', 1, 100)).at(-1)!;
    expect(last).toMatchObject({ action: 'promoted', actor: 'operator:alice', reason: 'node drain', slot: slot1, details: { fromSlot: slot0, fromEpoch: 1 } });
  });

  it('refuses promotion to a slot outside the validator\'s list', async () => {
    const b = await testBroker();
    await importValidator(b);
    const res = await promote(b, 'eu1/validators/elsewhere-0');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'slot_not_allowed' });
    expect((await status(b)).designation.epoch).toBe(1);
  });

  it('refuses re-import with other slots, and promotion of an unknown validator', async () => {
    const b = await testBroker();
    await importValidator(b);
    await expect(importValidator(b, 'v1', [slot1])).rejects.toThrow(/409/);
    expect((await promote(b, slot1, 'x', 'v9')).status).toBe(404);
  });

  it('queries the audit trail with filters and paging, and verifies it', async () => {
    const b = await testBroker();
    await importValidator(b);
    for (let i = 0; i < 5; i++) {
      await fetchGrant(b, await pod(slot1));
      b.clock.advance(1000);
    }
    const q = async (qs: string) => {
      const path = '/v1/audit';
      const res = await b.app.request(`${path}?${qs}`, { headers: await operatorHeaders(b, 'GET', `${path}?${qs}`) });
      return { status: res.status, body: (await res.json()) as { entries: { action: string; seq: number }[]; cursor: string | null } };
    };
    const all = await q('validator=v1&action=denied&limit=2');
    expect(all.status).toBe(200);
    expect(all.body.entries.map((e) => e.seq)).toEqual([2, 3]);
    const next = await q(`validator=v1&action=denied&limit=2&cursor=${all.body.cursor}`);
    expect(next.body.entries.map((e) => e.seq)).toEqual([4, 5]);
    expect((await q('limit=0')).status).toBe(400);
    expect((await q('validator=../etc')).status).toBe(400);
    expect((await q('bogus=1')).status).toBe(400);
    const cp = '/v1/audit/checkpoints';
    const made = await b.app.request(cp, { method: 'POST', headers: await operatorHeaders(b, 'POST', cp) });
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ seq: 1, chains: 1 });
    const path = '/v1/audit/verify';
    const v = await b.app.request(path, { headers: await operatorHeaders(b, 'GET', path) });
    expect(v.status).toBe(200);
    expect(await v.json()).toMatchObject({ ok: true, chains: 1, entries: 6, checkpoint: { seq: 1, verified: true } });
  });

  it('publishes the grant-signing keys so a third party can verify a grant', async () => {
    const b = await testBroker();
    await importValidator(b);
    const { grant } = (await (await fetchGrant(b, await pod(slot0))).json()) as { grant: string };
    const jwks = await (await b.app.request('/.well-known/jwks.json')).json();
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const { payload } = await jwtVerify(grant, createLocalJWKSet(jwks as never), { currentDate: new Date(b.clock.now()) });
    expect(payload).toMatchObject({ sub: 'v1', slot: slot0, epoch: 1, iss: 'keyhold' });
  });

  it('reports readiness per store', async () => {
    const b = await testBroker();
    const res = await b.app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', stores: [{ name: 'sqlite', role: 'state', status: 'ready' }, { name: 'sqlite', role: 'key', status: 'ready' }] });
  });
});

describe('two-person promotion', () => {
  it('needs two different operators, and ledgers both', async () => {
    const { testOperator } = await import('../support/fixtures');
    const bob = await testOperator('bob');
    const b = await testBroker({ promotionApprovals: 2, moreOperators: [bob] });
    await importValidator(b);
    const first = await promote(b, slot1);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ designation: { epoch: 1, slot: slot0 }, promotion: { status: 'pending' } });
    const again = await promote(b, slot1);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'second_approver_required' });
    const path = '/v1/validators/v1/promote';
    const body = JSON.stringify({ slot: slot1, reason: 'agreed' });
    const res = await b.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${await bob.token('POST', path, b.clock.now(), { body })}`, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ designation: { epoch: 2, slot: slot1 }, promotion: { status: 'promoted', approvers: ['operator:alice', 'operator:bob'] } });
    expect(await ledger(b)).toEqual(['key_imported', 'promotion_proposed', 'denied', 'promoted']);
  });
});
