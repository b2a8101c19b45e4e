// What one renewal costs the stores, counted at the adapters: key-store reads
// and state-store writes (a renewal should need neither: one designation read
// and one signature). The stores are the real SQLite adapters behind counting
// proxies, the broker is built by buildBroker, and the renewals go through the
// app as HTTP requests would.

import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import type { KeyStore, StateStore } from '../../src/ports';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { generatedKeyMaterial, testBroker } from '../support/fixtures';
import { countingCalls } from './fleet-day';
import { progress, round, type StoreCalls } from './report';

const keyReads: ReadonlySet<string> = new Set<keyof KeyStore>(['get', 'list']);
const stateWrites: ReadonlySet<string> = new Set<keyof StateStore>(['commit', 'putCheckpoint']);

/** A proxy that counts every method call, by name. */
const counting = <T extends object>(target: T, tally: Map<string, number>): T => countingCalls(target, (name) => tally.set(name, (tally.get(name) ?? 0) + 1));

const sum = (m: Map<string, number>, names: ReadonlySet<string>) => [...m].reduce((a, [k, n]) => (names.has(k) ? a + n : a), 0);

export async function storeCallsPerRenew(renewals: number): Promise<StoreCalls> {
  const keyTally = new Map<string, number>();
  const stateTally = new Map<string, number>();
  const state = counting<StateStore>(new SqliteStateStore(':memory:'), stateTally);
  const keys = counting<KeyStore>(new SqliteKeyStore(':memory:', new Uint8Array(32).fill(7)), keyTally);
  const b = await testBroker({ state, keyStores: [keys] });
  try {
    const slot = 'eu1/validators/v1-0';
    const gen = generatedKeyMaterial();
    const op = { name: b.operator.key.name, role: 'operator' as const, principals: [`name:${b.operator.key.name}`] };
    await b.operations.importKey(op, 'v1', { slots: [slot], serviceAccounts: ['validator'] }, gen.material, null);
    const uid = randomUUID();
    const token = await b.cluster.podToken({ podName: 'v1-0', podUid: uid, now: b.clock.now() });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519', extractable: true });
    const { kty, crv, x } = await exportJWK(publicKey);
    const fetched = await b.app.request('/v1/grants', { method: 'POST', headers, body: JSON.stringify({ validator: 'v1', ephemeralKey: { kty, crv, x } }) });
    if (fetched.status !== 201) throw new Error(`fetch failed: ${fetched.status} ${await fetched.text()}`);
    let grant = ((await fetched.json()) as { grant: string }).grant;

    keyTally.clear();
    stateTally.clear();
    for (let i = 0; i < renewals; i++) {
      b.clock.advance(1000);
      const res = await b.app.request('/v1/grants/renew', { method: 'POST', headers, body: JSON.stringify({ grant }) });
      if (res.status !== 200) throw new Error(`renewal ${i} failed: ${res.status} ${await res.text()}`);
      grant = ((await res.json()) as { grant: string }).grant;
    }
    const calls = { key_reads: round(sum(keyTally, keyReads) / renewals, 3), state_writes: round(sum(stateTally, stateWrites) / renewals, 3) };
    progress(`store_calls_per_renew over ${renewals} renewals: ${JSON.stringify(calls)} (all calls: key store ${JSON.stringify(Object.fromEntries(keyTally))}, state store ${JSON.stringify(Object.fromEntries(stateTally))})`);
    return calls;
  } finally {
    await b.close();
  }
}
