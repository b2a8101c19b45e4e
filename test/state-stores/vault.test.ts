// The Vault KV v2 state store against the shared contract, on the project's
// Vault emulator (KV v2 with check-and-set, as Vault answers it); and what
// only Vault needs: waits counted from when a write landed (`created_time`),
// and reads that a lagging performance standby cannot answer.

import { afterAll, describe, expect, it } from 'vitest';
import { horizonMs, takeoverNotBefore } from '../../src/core/horizon';
import { draftFor, describeStateStoreContract, recordFor } from '../../src/stores/state-store.contract';
import type { ValidatorRecord } from '../../src/core/designation';
import { startVaultEmulator, type VaultEmulator } from '../emulators/vault/server';
import { testTiming } from '../support/fixtures';
import { vaultBackend } from './backends';

let vault: VaultEmulator | undefined;
afterAll(async () => vault?.close());

describeStateStoreContract('vault kv v2 (emulator)', async () => {
  vault ??= await startVaultEmulator();
  return vaultBackend(vault);
});

const t0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const takeover = (r: ValidatorRecord, decidedAt: number): ValidatorRecord => ({
  ...r,
  designation: { ...r.designation, epoch: r.designation.epoch + 1, podUid: 'pod-new', state: 'held', notBefore: takeoverNotBefore(testTiming, decidedAt, false), updatedAt: decidedAt },
  version: r.version + 1,
});

describe('vault state store: time and consistency', () => {
  let server: VaultEmulator | undefined;
  let serverNow = t0;
  afterAll(async () => server?.close());

  let prefix = '';
  async function store() {
    server ??= await startVaultEmulator({ now: () => serverNow });
    const backend = await vaultBackend(server);
    prefix = backend.prefix;
    return backend.open();
  }

  it('counts a takeover wait from when its write landed, when that was after the deadline', async () => {
    const s = await store();
    serverNow = t0;
    const r1 = recordFor('v1', t0);
    await s.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v1', t0)] });
    // Decided at t0 + 1 s; a broker frozen after deciding sends it ten minutes later.
    const late = takeover(r1, t0 + 1000);
    serverNow = t0 + 600_000;
    await s.commit({ record: { next: late, expectedVersion: 1 }, entries: [draftFor('v1', t0 + 1000)] });
    const read = await s.getValidator('v1');
    expect(read?.designation.notBefore).toBeGreaterThanOrEqual(serverNow + horizonMs(testTiming) + testTiming.maxClockSkewMs);
    expect(read?.designation.notBefore).toBeGreaterThan(late.designation.notBefore);
    await s.close();
  });

  it('keeps the wait as decided when the write landed in time', async () => {
    const s = await store();
    serverNow = t0;
    const r1 = recordFor('v2', t0);
    await s.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v2', t0)] });
    const onTime = takeover(r1, t0 + 1000);
    serverNow = t0 + 2000;
    await s.commit({ record: { next: onTime, expectedVersion: 1 }, entries: [draftFor('v2', t0 + 1000)] });
    expect(await s.getValidator('v2')).toEqual(onTime);
    await s.close();
  });

  it('reads from the active node while a performance standby lags behind', async () => {
    const s = await store();
    serverNow = t0;
    const r1 = recordFor('v3', t0);
    await s.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v3', t0)] });
    server!.setPerformanceStandbyLag(true);
    try {
      const r2 = { ...r1, designation: { ...r1.designation, state: 'held' as const, podUid: 'p', updatedAt: t0 + 1 }, version: 2 };
      await s.commit({ record: { next: r2, expectedVersion: 1 }, entries: [draftFor('v3', t0 + 1)] });
      expect(await s.getValidator('v3')).toEqual(r2);
      // The emulator's standby does lag: a read without the header is answered from before the write.
      const plain = await fetch(`${server!.address}/v1/secret/data/${prefix}validators/v3`, { headers: { 'X-Vault-Token': server!.token } });
      expect(((await plain.json()) as { data: { metadata: { version: number } } }).data.metadata.version).toBe(1);
    } finally {
      server!.setPerformanceStandbyLag(false);
    }
    await s.close();
  });
});
