// Invariant 6 for the state store, on the wire: with DynamoDB (moto behind
// the fault proxy), Vault (its emulator) or Firestore (Google's emulator
// behind a TCP relay) failing, nobody new is admitted, no promotion happens,
// the current holder renews from the last read, and when the store returns
// the flow resumes with nothing to repair.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { horizonMs } from '../../src/core/horizon';
import type { StateStore } from '../../src/ports';
import { resilientStateStore, type ResilienceOptions } from '../../src/stores/resilience';
import { startFaultProxy, type FaultProxy } from '../emulators/fault-proxy';
import type { Fault, FaultController } from '../emulators/faults';
import { FrontDoor } from '../emulators/gcp-secret-manager/front-door';
import { startVaultEmulator } from '../emulators/vault/server';
import { firestoreEmulatorAvailable, startFirestoreEmulator, type FirestoreEmulator } from '../firestore-emulator';
import { fetchGrant, importValidator, pod, promote, renew, slot0, slot1 } from '../http/helpers';
import { DynamoDbStateStore, dynamoClient } from '../../src/stores/dynamodb/state-store';
import { motoAvailable, motoCredentials, motoRegion, startMoto, type Moto } from '../moto';
import { dynamoBackend, firestoreBackend, vaultBackend } from '../state-stores/backends';
import { testBroker, testTiming } from '../support/fixtures';

const quick: ResilienceOptions = { timeoutMs: 500, readAttempts: 2, breakerThreshold: 1000, halfOpenAfterMs: 60_000, initialBackoffMs: 5, maxBackoffMs: 20 };

/** Holder in, store fails, newcomer and promotion refused, holder renews, store back, newcomer proceeds. */
async function scenario(store: StateStore, inject: () => void, heal: () => Promise<void>, resilience: ResilienceOptions = quick): Promise<void> {
  const b = await testBroker({ state: resilientStateStore(store, resilience) });
  await importValidator(b);
  const holder = await pod(slot0);
  const first = await fetchGrant(b, holder);
  expect(first.status).toBe(201);
  let { grant } = (await first.json()) as { grant: string };
  const lastRead = b.clock.now();

  inject();
  const newcomer = await pod(slot0);
  const refused = await fetchGrant(b, newcomer);
  expect(refused.status).toBe(503);
  expect(await refused.json()).toMatchObject({ code: 'state_store_unavailable' });
  expect(refused.headers.get('retry-after')).toBeTruthy();
  expect((await promote(b, slot1)).status).toBe(503);
  b.clock.advance(testTiming.grantTtlMs / 3);
  const renewed = await renew(b, holder, grant);
  expect(renewed.status).toBe(200);
  const body = (await renewed.json()) as { grant: string; expiresAt: string };
  expect(Date.parse(body.expiresAt)).toBeLessThanOrEqual(lastRead + horizonMs(testTiming));
  grant = body.grant;

  await heal();
  // Back, with no repair by hand: once the client has reconnected (a gRPC
  // channel may still be in its backoff), the newcomer is a takeover and
  // waits out the horizon.
  let resumed = await fetchGrant(b, newcomer);
  for (const deadline = Date.now() + 20_000; resumed.status === 503 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 250));
    resumed = await fetchGrant(b, newcomer);
  }
  expect(resumed.status).toBe(425);
  expect((await renew(b, holder, grant)).status).toBe(409);
  expect((await b.operations.verify()).ok).toBe(true);
}

const faults: Fault[] = [{ kind: 'hang' }, { kind: 'error' }, { kind: 'throttle' }, { kind: 'reset' }, { kind: 'down' }];

(motoAvailable() ? describe : describe.skip)(`dynamodb state store${motoAvailable() ? '' : ' (skipped: moto_server is not on this machine)'}`, () => {
  let moto: Moto;
  let proxy: FaultProxy;
  beforeAll(async () => {
    moto = await startMoto();
    proxy = await startFaultProxy(moto.endpoint);
  }, 60_000);
  afterAll(async () => {
    proxy.faults.clear();
    await proxy.close();
    await moto.stop();
  });
  for (const fault of faults) {
    it(`admits nobody new on ${fault.kind}`, async () => {
      // The shared backend queues every request for moto's sake; a hung one
      // would block that queue for good. This scenario is sequential, so its
      // store talks to the proxy directly.
      const backend = await dynamoBackend(moto.endpoint);
      const store = new DynamoDbStateStore({ client: dynamoClient({ region: motoRegion, endpoint: proxy.address, credentials: motoCredentials }), table: backend.table });
      await scenario(store, () => proxy.faults.set('*', fault), async () => proxy.faults.clear());
    }, 40_000);
  }
});

describe('vault state store', () => {
  let vault: Awaited<ReturnType<typeof startVaultEmulator>>;
  let faultsOf: FaultController;
  beforeAll(async () => {
    vault = await startVaultEmulator();
    faultsOf = vault.faults;
  });
  afterAll(async () => {
    faultsOf.clear();
    await vault.listening();
    await vault.close();
  });
  for (const fault of faults) {
    it(`admits nobody new on ${fault.kind}`, async () => {
      const backend = await vaultBackend(vault);
      await scenario(await backend.open(), () => faultsOf.set('*', fault), async () => {
        faultsOf.clear();
        await vault.listening();
      });
    }, 30_000);
  }
});

// The Firestore emulator injects no faults itself; a TCP relay in front of it
// can refuse connections. The other classes are covered on the other stores.
(firestoreEmulatorAvailable() ? describe : describe.skip)(`firestore state store${firestoreEmulatorAvailable() ? '' : ' (skipped: gcloud or java is not on this machine)'}`, () => {
  let emulator: FirestoreEmulator;
  let relay: FrontDoor;
  beforeAll(async () => {
    emulator = await startFirestoreEmulator();
    relay = new FrontDoor('127.0.0.1');
    relay.upstreamPort = Number(emulator.host.split(':')[1]);
    await relay.open();
  }, 120_000);
  afterAll(async () => {
    relay.shut();
    await emulator.stop();
  });
  it('admits nobody new while it is down', async () => {
    const backend = await firestoreBackend(`127.0.0.1:${relay.port}`);
    const store = await backend.open();
    // A fresh emulator's first answers can take seconds under load: warm up,
    // and give each call the time this emulator needs.
    await store.getValidator('warm-up');
    await scenario(store, () => relay.shut(), () => relay.open(), { ...quick, timeoutMs: 3000 });
  }, 60_000);
});
