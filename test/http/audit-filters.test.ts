// Audit query filters by actor, epoch and pod, and an install whose ledger
// holds pseudonyms: queries by the real value still match, and neither the
// answer nor the export shows it.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { testBroker, type TestBroker } from '../support/fixtures';
import { fetchGrant, importValidator, operatorHeaders, pod, slot0 } from './helpers';

async function query(b: TestBroker, qs: string) {
  const path = '/v1/audit';
  const res = await b.app.request(`${path}?${qs}`, { headers: await operatorHeaders(b, 'GET', `${path}?${qs}`) });
  return { status: res.status, body: (await res.json()) as { entries: { action: string; actor: string; epoch: number | null; details: Record<string, unknown> }[] } };
}

async function history(b: TestBroker) {
  await importValidator(b);
  const first = await pod(slot0);
  await fetchGrant(b, first);
  const second = await pod(slot0);
  await fetchGrant(b, second); // takeover: epoch 2, naming the first pod as superseded
  return { first, second };
}

describe('audit query filters', () => {
  it('select by actor, epoch and pod (as actor, or as the holder superseded)', async () => {
    const b = await testBroker();
    const { first, second } = await history(b);
    const byFirst = await query(b, `pod=${first.uid}`);
    expect(byFirst.body.entries.map((e) => e.action)).toEqual(['grant_issued', 'takeover']);
    expect((await query(b, `actor=pod:${second.uid}`)).body.entries.map((e) => e.action)).toEqual(['takeover']);
    expect((await query(b, 'epoch=2')).body.entries.map((e) => e.action)).toEqual(['takeover']);
    expect((await query(b, `actor=operator:${b.operator.key.name}`)).body.entries.map((e) => e.action)).toEqual(['key_imported']);
    expect((await query(b, 'epoch=x')).status).toBe(400);
    expect((await query(b, 'actor=root')).status).toBe(400);
  });
});

describe('an install that ledgers pseudonyms', () => {
  it('stores hmac-sha256 values, matches queries by the real value, and exports none of them', async () => {
    const b = await testBroker({ ledgerHmacKey: randomBytes(32) });
    const { first } = await history(b);
    const all = await query(b, 'limit=100');
    const text = JSON.stringify(all.body);
    expect(text).not.toContain(first.uid);
    expect(text).not.toContain(`operator:${b.operator.key.name}`);
    expect(all.body.entries.find((e) => e.action === 'takeover')!.details.supersededPod).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const byFirst = await query(b, `pod=${first.uid}`);
    expect(byFirst.body.entries.map((e) => e.action)).toEqual(['grant_issued', 'takeover']);
    // An auditor given the pseudonym matches it as it is.
    const pseudonym = all.body.entries[1]!.actor.slice('pod:'.length);
    expect((await query(b, `pod=${pseudonym}`)).body.entries.map((e) => e.action)).toEqual(['grant_issued', 'takeover']);

    const path = '/v1/audit/export';
    const exported = await (await b.app.request(path, { headers: await operatorHeaders(b, 'GET', path) })).text();
    expect(exported).not.toContain(first.uid);
    expect(exported).toContain(pseudonym);
    expect((await b.operations.verify()).ok).toBe(true);
    const holders = await b.operations.holders('v1');
    expect(holders[0]!.pod).toBe(pseudonym);
  });
});
