// Metrics see what the stores do, through the same factories the broker uses,
// and /metrics serves them with store names and codes, never validator ids.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeBroker } from '../src/compose';
import { parseConfig } from '../src/config';
import { memoryLogger } from '../src/log';
import { BrokerMetrics } from '../src/metrics';
import { createVaultStateStore } from '../src/stores/vault-kv-state/factory';
import { startVaultEmulator } from './emulators/vault/server';
import { ManualClock, testTiming } from './support/fixtures';
import { checkedApp } from './http/contract';

describe('metrics', () => {
  it('count every call of a state store built by its factory', async () => {
    const vault = await startVaultEmulator();
    try {
      const metrics = new BrokerMetrics();
      const store = await createVaultStateStore({
        env: { KEYHOLD_VAULT_ADDR: vault.address, KEYHOLD_VAULT_TOKEN: vault.token },
        home: '/nonexistent',
        clock: new ManualClock(),
        timing: testTiming,
        logger: memoryLogger(),
        storeHooks: metrics.storeHooks,
      });
      expect(await store.getValidator('v1')).toBeNull();
      const text = (await metrics.render()).body;
      expect(text).toMatch(/keyhold_store_call_duration_seconds_count\{store="vault",operation="getValidator",outcome="ok"\} 1/);
      await store.close();
    } finally {
      await vault.close();
    }
  });

  it('are served at /metrics by a composed broker, with decisions by code', async () => {
    const home = join(await mkdtemp(join(tmpdir(), 'keyhold-metrics-')), 'h');
    const broker = await composeBroker(parseConfig({ KEYHOLD_HOME: home }), { logger: memoryLogger() });
    const app = checkedApp(broker.app);
    await app.request('/v1/grants', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('keyhold_broker_decisions_total{decision="denied",code="unauthenticated"} 1');
    expect(text).not.toMatch(/validator="/);
    await broker.close();
  });
});
