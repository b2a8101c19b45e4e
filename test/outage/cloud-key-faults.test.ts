// Invariant 6 on the wire: each cloud key store, behind its emulator, with
// each fault class the emulators inject. The primary fails; the fetch falls
// back to the replica and the ledger says which store failed and why. With
// every store failing, the cache serves within its bounds and refuses beyond.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedKeyReader } from '../../src/broker/key-cache';
import { ReplicatedKeyReader } from '../../src/broker/key-reader';
import type { ResilienceOptions } from '../../src/stores/resilience';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import type { Fault } from '../emulators/faults';
import { fetchGrant, importValidator, pod, release, slot0 } from '../http/helpers';
import { awsRig, gcpRig, vaultRig, type StoreRig } from '../key-stores/rigs';
import { motoAvailable } from '../moto';
import { ManualClock, testBroker } from '../support/fixtures';
import { FaultyKeyStore } from '../support/faulty-stores';

const quick: ResilienceOptions = { timeoutMs: 400, readAttempts: 2, breakerThreshold: 1000, halfOpenAfterMs: 60_000, initialBackoffMs: 5, maxBackoffMs: 20 };
const cache = { freshMs: 1_000, maxAgeMs: 60_000, maxEntries: 10 };
const faults: Fault[] = [{ kind: 'hang' }, { kind: 'error' }, { kind: 'throttle' }, { kind: 'reset' }, { kind: 'down' }];

const rigs: [string, (c: ManualClock) => Promise<StoreRig>, boolean][] = [
  ['aws-secrets-manager', awsRig, motoAvailable()],
  ['gcp-secret-manager', gcpRig, true],
  ['vault', vaultRig, true],
];

for (const [name, makeRig, available] of rigs) {
  const suite = available ? describe : describe.skip;
  suite(`${name}${available ? '' : ' (skipped: moto_server is not on this machine)'} as the primary key store`, () => {
    const clock = new ManualClock();
    let rig: StoreRig;
    beforeAll(async () => {
      rig = await makeRig(clock);
    }, 60_000);
    afterAll(async () => {
      rig.faults.clear();
      await rig.close();
    });

    for (const fault of faults) {
      it(`falls back on ${fault.kind}, then serves the cache only within its bounds`, async () => {
        rig.faults.clear();
        const primary = await rig.makeStore(quick);
        const replica = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), 'replica');
        const reader = new CachedKeyReader(new ReplicatedKeyReader([primary, replica]), clock, cache);
        const b = await testBroker({ clock, keyStores: [primary, replica], keyReader: reader });
        const id = `v-${fault.kind}`;
        await importValidator(b, id);

        rig.faults.set(fault.kind === 'down' ? '*' : rig.readOp, fault);
        const started = performance.now();
        const a = await pod(slot0);
        const res = await fetchGrant(b, a, id);
        expect(res.status).toBe(201);
        expect(performance.now() - started).toBeLessThan(5_000);
        const chain = await b.parts.state.readChain(id, 1, 100);
        expect(chain.map((e) => e.action)).toEqual(['key_imported', 'store_fallback', 'grant_issued']);
        expect(chain[1]).toMatchObject({ reason: 'store_unavailable', details: { store: name, servedBy: 'replica' } });

        // Every store fails now: the entry the last fetch cached is served stale, and ledgered.
        const { grant } = (await res.json()) as { grant: string };
        await release(b, a, grant);
        replica.mode = 'down';
        clock.advance(cache.freshMs + 1);
        const stale = await fetchGrant(b, await pod(slot0), id);
        expect(stale.status).toBe(201);
        expect((await b.parts.state.readChain(id, 1, 100)).map((e) => e.action).slice(-2)).toEqual(['cache_served', 'grant_issued']);

        // Past the maximum age nothing is served.
        const { grant: g2 } = (await stale.json()) as { grant: string };
        const holder = (await b.parts.state.getValidator(id))!.designation.podUid!;
        expect(holder).toBeTruthy();
        await b.grants.release({ cluster: 'eu1', namespace: 'validators', podName: 'v1-0', podUid: holder, serviceAccount: 'validator', slot: slot0 }, g2, null, 'proven');
        clock.advance(cache.maxAgeMs);
        const refused = await fetchGrant(b, await pod(slot0), id);
        expect(refused.status).toBe(503);
        expect(await refused.json()).toMatchObject({ code: 'key_store_unavailable' });
        rig.faults.clear();
        await primary.close();
      }, 30_000);
    }
  });
}
