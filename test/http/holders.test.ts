// GET /v1/audit/holders and `keyhold audit holders`: the holding intervals
// of a validator whose key moved by release, promotion and acknowledgement.

import { describe, expect, it } from 'vitest';
import { cliRig } from '../support/cli';
import { testBroker, type TestBroker } from '../support/fixtures';
import { fetchGrant, importValidator, operatorHeaders, pod, promote, release, slot0, slot1 } from './helpers';

async function moved(b: TestBroker) {
  await importValidator(b);
  const a = await pod(slot0);
  const first = (await (await fetchGrant(b, a)).json()) as { grant: string };
  b.clock.advance(60_000);
  await release(b, a, first.grant);
  const a2 = await pod(slot0);
  const second = (await (await fetchGrant(b, a2)).json()) as { grant: string };
  b.clock.advance(60_000);
  expect((await promote(b, slot1)).status).toBe(200);
  b.clock.advance(1000);
  await release(b, a2, second.grant); // the fenced holder acknowledges
  b.clock.advance(1000);
  const s = await pod(slot1);
  expect((await fetchGrant(b, s)).status).toBe(201);
  return { a, a2, s };
}

const get = async (b: TestBroker, query: string) => {
  const path = '/v1/audit/holders';
  return b.app.request(`${path}?${query}`, { headers: await operatorHeaders(b, 'GET', `${path}?${query}`) });
};

describe('GET /v1/audit/holders', () => {
  it('answers each holding with its epoch, slot, pod, times and how it ended', async () => {
    const b = await testBroker();
    const { a, a2, s } = await moved(b);
    const res = await get(b, 'validator=v1');
    expect(res.status).toBe(200);
    const { intervals } = (await res.json()) as { intervals: Record<string, unknown>[] };
    expect(intervals).toEqual([
      { validator: 'v1', epoch: 1, slot: slot0, pod: a.uid, from: expect.any(Number), to: expect.any(Number), ended: 'released' },
      { validator: 'v1', epoch: 2, slot: slot0, pod: a2.uid, from: expect.any(Number), to: expect.any(Number), ended: 'acknowledged' },
      { validator: 'v1', epoch: 3, slot: slot1, pod: s.uid, from: b.clock.now(), to: null, ended: null },
    ]);
    expect((intervals[0]!.to as number) - (intervals[0]!.from as number)).toBe(60_000);
    // A window: only what was held at or after the promotion.
    const later = (await (await get(b, `validator=v1&since=${b.clock.now()}`)).json()) as { intervals: unknown[] };
    expect(later.intervals).toHaveLength(1);
  });

  it('refuses a bad query and an unknown validator with stable codes, and a pod token', async () => {
    const b = await testBroker();
    await importValidator(b);
    expect(await (await get(b, 'validator=../x')).json()).toMatchObject({ code: 'invalid_request' });
    expect(await (await get(b, 'validator=v1&extra=1')).json()).toMatchObject({ code: 'invalid_request' });
    const unknown = await get(b, 'validator=nobody');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'unknown_validator' });
    expect((await b.app.request('/v1/audit/holders?validator=v1')).status).toBe(401);
  });
});

describe('keyhold audit holders', () => {
  it('prints a table, JSON and NDJSON', async () => {
    const rig = await cliRig();
    try {
      await moved(rig.b);
      // The CLI signs its requests with the real clock: bring the broker's back to it.
      rig.b.clock.t = Date.now();
      const table = await rig.cli(['audit', 'holders', '--validator', 'v1']);
      expect(table.stderr).toBe('');
      expect(table.code).toBe(0);
      const lines = table.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^EPOCH\s+SLOT\s+POD\s+FROM\s+TO\s+ENDED$/);
      expect(lines.slice(1).map((l) => l.split(/\s+/).at(-1))).toEqual(['released', 'acknowledged', '-']);
      const json = JSON.parse((await rig.cli(['audit', 'holders', '--validator', 'v1', '--json'])).stdout) as { epoch: number; to: number | null }[];
      expect(json.map((i) => i.epoch)).toEqual([1, 2, 3]);
      expect(json[2]!.to).toBeNull();
      const nd = (await rig.cli(['audit', 'holders', '--validator', 'v1', '--ndjson'])).stdout.trim().split('\n');
      expect(nd.map((l) => (JSON.parse(l) as { ended: string | null }).ended)).toEqual(['released', 'acknowledged', null]);
    } finally {
      rig.close();
    }
  });
});
