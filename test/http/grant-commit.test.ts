// Nothing of a grant leaves before the commit that ledgers it has returned,
// and a failed commit answers neither a grant nor a key (invariant 5).

import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { InFlightStateStore } from '../support/in-flight-commits';
import { testBroker } from '../support/fixtures';
import { decryptKey, fetchGrant, importValidator, pod, slot0 } from './helpers';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup() {
  const inFlight = new InFlightStateStore(new SqliteStateStore(':memory:'));
  const b = await testBroker({ state: inFlight });
  const gen = await importValidator(b);
  return { b, inFlight, gen };
}

describe('a grant and its commit', () => {
  it('is answered only once its commit has landed, with the grant the ledger names', async () => {
    const { b, inFlight, gen } = await setup();
    const a = await pod(slot0);
    inFlight.catchNext('slow');
    let answered = false;
    const pending = fetchGrant(b, a).then((r) => {
      answered = true;
      return r;
    });
    while (!inFlight.holding) await settle(5);
    // Long enough for the signature and the encryption to finish on their own.
    await settle(200);
    expect(answered).toBe(false);
    expect(await inFlight.release()).toBe('landed');
    const res = await pending;
    expect(res.status).toBe(201);
    const body = (await res.json()) as { grant: string; key: string; expiresAt: string };
    const issued = (await b.parts.state.readChain('v1', 1, 10)).find((e) => e.action === 'grant_issued')!;
    const claims = decodeJwt(body.grant);
    expect(issued.details.jti).toBe(claims.jti);
    expect(issued.details.exp).toBe(claims.exp);
    expect(Date.parse(body.expiresAt) / 1000).toBe(claims.exp);
    expect((await decryptKey(body.key, a.privateKey)).material.publicId).toBe(gen.publicId);
  });

  it('answers 503 with no grant or key when its commit fails', async () => {
    const { b, inFlight } = await setup();
    inFlight.mode = 'commits_down';
    const res = await fetchGrant(b, await pod(slot0));
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(text).not.toMatch(/eyJ/);
    expect((await b.parts.state.readChain('v1', 1, 10)).map((e) => e.action)).toEqual(['key_imported']);
  });
});
