// Unauthenticated /readyz: a flood of checks is not a flood of store calls.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { FaultyKeyStore } from '../support/faulty-stores';
import { ManualClock, testBroker } from '../support/fixtures';

/** Counts health calls on the state store. */
class CountedStateStore extends SqliteStateStore {
  healthCalls = 0;
  override async health() {
    this.healthCalls += 1;
    return super.health();
  }
}

describe('/readyz', () => {
  it('answers a flood of checks from one store probe, and probes again after the TTL', async () => {
    const clock = new ManualClock();
    const state = new CountedStateStore(':memory:');
    const key = new FaultyKeyStore(new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now()), 'sqlite');
    let keyHealthCalls = 0;
    const health = key.health.bind(key);
    key.health = () => {
      keyHealthCalls += 1;
      return health();
    };
    const b = await testBroker({ clock, state, keyStores: [key] });

    const flood = await Promise.all(Array.from({ length: 200 }, () => b.app.request('/readyz')));
    expect(flood.every((r) => r.status === 200)).toBe(true);
    clock.advance(1_500);
    for (let i = 0; i < 50; i += 1) expect((await b.app.request('/readyz')).status).toBe(200);
    expect([state.healthCalls, keyHealthCalls]).toEqual([1, 1]);

    // A store that fails is seen once the cached probe is older than the TTL.
    key.mode = 'down';
    expect(((await (await b.app.request('/readyz')).json()) as { status: string }).status).toBe('ready');
    clock.advance(500);
    const later = (await (await b.app.request('/readyz')).json()) as { status: string; stores: { role: string; status: string }[] };
    expect([later.status, later.stores.find((s) => s.role === 'key')?.status]).toEqual(['degraded', 'down']);
    expect([state.healthCalls, keyHealthCalls]).toEqual([2, 2]);
  });
});
