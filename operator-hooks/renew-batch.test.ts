import { describe, expect, it } from 'vitest';
import type { Answer, GrantView, ListBrokerClient, ListView } from './broker-client';
import { realSleep } from './clock';
import { RenewBatch } from './renew-batch';

function lists(answer: (grants: readonly string[]) => Answer<ListView<GrantView>>) {
  const calls: { grants: readonly string[]; timeoutMs: number | undefined }[] = [];
  const client: ListBrokerClient = {
    fetchGrants: async () => {
      throw new Error('unused');
    },
    renewGrants: async (grants, opts) => {
      calls.push({ grants, timeoutMs: opts?.timeoutMs });
      return answer(grants);
    },
  };
  return { client, calls };
}

const view = (g: string): GrantView => ({ validator: g.slice(0, 2), slot: 's', grant: `${g}+`, epoch: 1, expiresAt: new Date(0).toISOString() });

describe('renewals in one list', () => {
  it('sends the renewals asked within the window as one request, each keeper getting its own answer', async () => {
    const l = lists((grants) => ({
      ok: true,
      status: 200,
      body: { results: grants.map((g) => (g === 'v2g' ? { outcome: 'refused', validator: 'v2', status: 409, code: 'stale_epoch', retryAfter: 3 } : { outcome: 'renewed', ...view(g) })) },
    }));
    const batch = new RenewBatch(l.client, realSleep, 30);
    const [a, b, c] = await Promise.all([batch.renew('v1g', { timeoutMs: 900 }), batch.renew('v2g', { timeoutMs: 400 }), batch.renew('v3g')]);
    expect(l.calls).toEqual([{ grants: ['v1g', 'v2g', 'v3g'], timeoutMs: 400 }]);
    expect(a).toMatchObject({ ok: true, body: { grant: 'v1g+' } });
    expect(b).toEqual({ ok: false, kind: 'refused', status: 409, code: 'stale_epoch', retryAfterMs: 3000 });
    expect(c).toMatchObject({ ok: true, body: { grant: 'v3g+' } });
    // A later ask is a new request.
    await batch.renew('v1g');
    expect(l.calls).toHaveLength(2);
  });

  it('gives every keeper the failure of a request that got no answer', async () => {
    const l = lists(() => ({ ok: false, kind: 'unreachable', reason: 'ECONNREFUSED' }));
    const batch = new RenewBatch(l.client, realSleep, 10);
    const all = await Promise.all([batch.renew('a'), batch.renew('b')]);
    expect(all).toEqual([{ ok: false, kind: 'unreachable', reason: 'ECONNREFUSED' }, { ok: false, kind: 'unreachable', reason: 'ECONNREFUSED' }]);
  });

  it('never hands a keeper another validator\'s answer when the list comes back short', async () => {
    const l = lists(() => ({ ok: true, status: 200, body: { results: [{ outcome: 'renewed', ...view('a') }] } }));
    const batch = new RenewBatch(l.client, realSleep, 10);
    const all = await Promise.all([batch.renew('a'), batch.renew('b')]);
    expect(all.every((x) => !x.ok && x.kind === 'unreachable')).toBe(true);
  });
});
