// Every fault class of the emulators against every cloud key store, as the
// factory builds it (SDK retries off, resilience wrapper on): each call ends
// in bounded time with success or store_unavailable, never a hang, never an
// unexplained error; reads are retried, writes are not; the breaker opens
// after consecutive faults and closes once the store heals.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyStoreOwnershipError, StoreError, type KeyStore } from '../../src/ports';
import type { Guarded, ResilienceOptions } from '../../src/stores/resilience';
import { freshValidator } from '../../src/stores/key-store.contract';
import { serializeKeyMaterial } from '../../src/core/key-material';
import type { Fault } from '../emulators/faults';
import { describeWithMoto } from '../moto';
import { ManualClock, generatedKeyMaterial } from '../support/fixtures';
import { awsRig, gcpRig, vaultRig, type StoreRig } from './rigs';

const resilience: ResilienceOptions = { timeoutMs: 400, readAttempts: 2, breakerThreshold: 3, halfOpenAfterMs: 300, initialBackoffMs: 10, maxBackoffMs: 20 };
/** The longest any call may take: every attempt timing out, plus backoff and slack. */
const bound = resilience.readAttempts * resilience.timeoutMs + 1500;

async function outcome(p: Promise<unknown>): Promise<{ code: string; ms: number; error?: unknown }> {
  const started = performance.now();
  try {
    await p;
    return { code: 'ok', ms: performance.now() - started };
  } catch (e) {
    // Every failure must be one of the port's errors, with a stable code.
    expect(e).toBeInstanceOf(StoreError);
    // Never the service's own error text (the emulators' and the proxy's say "injected").
    expect((e as Error).message).not.toMatch(/inject|internal error|rate exceeded|quota/i);
    return { code: (e as StoreError).code, ms: performance.now() - started, error: e };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describeFaults(makeRig: (clock: ManualClock) => Promise<StoreRig>): void {
  let rig: StoreRig;
  let store: Guarded<KeyStore>;
  let seeded: string;

  beforeAll(async () => {
    rig = await makeRig(new ManualClock());
  });
  afterAll(() => rig?.close());
  beforeEach(async () => {
    rig.faults.clear();
    // A fresh store (own client, own breaker) per test, seeded with one key.
    store = await rig.makeStore(resilience);
    seeded = freshValidator('seed');
    await store.put(seeded, generatedKeyMaterial().material);
    return async () => {
      rig.faults.clear();
      await store.close();
    };
  });

  it('latency below the timeout: the call succeeds', async () => {
    rig.faults.set('*', { kind: 'latency', ms: 100 });
    const r = await outcome(store.get(seeded));
    expect(r.code).toBe('ok');
    expect(r.ms).toBeGreaterThanOrEqual(90);
  });

  const failing: [string, Fault][] = [
    ['hang (until the client times out)', { kind: 'hang' }],
    ['5xx', { kind: 'error' }],
    ['throttling', { kind: 'throttle' }],
    ['connection reset', { kind: 'reset' }],
  ];
  for (const [label, fault] of failing) {
    it(`${label} on reads: retried, then store_unavailable in bounded time`, async () => {
      rig.faults.set(rig.readOp, fault);
      const before = rig.calls(rig.readOp);
      const r = await outcome(store.get(seeded));
      expect(r.code).toBe('store_unavailable');
      expect(r.ms).toBeLessThan(bound);
      expect(rig.calls(rig.readOp) - before).toBe(resilience.readAttempts);
    });
  }

  it('a fault that clears between attempts is absorbed by the read retry', async () => {
    rig.faults.set(rig.readOp, { kind: 'error' }, { times: 1 });
    expect((await outcome(store.get(seeded))).code).toBe('ok');
  });

  it('writes are not retried: one attempt, store_unavailable', async () => {
    rig.faults.set('*', { kind: 'error' });
    const before = rig.calls();
    const r = await outcome(store.put(seeded, generatedKeyMaterial().material));
    expect(r.code).toBe('store_unavailable');
    expect(rig.calls() - before).toBe(1);
  });

  it('down (port closed): store_unavailable in bounded time, and health says error', async () => {
    rig.faults.set('*', { kind: 'down' });
    await sleep(50);
    const r = await outcome(store.get(seeded));
    expect(r.code).toBe('store_unavailable');
    expect(r.ms).toBeLessThan(bound);
    const started = performance.now();
    expect((await store.health()).state).toBe('error');
    expect(performance.now() - started).toBeLessThan(bound);
  });

  it('the breaker opens after consecutive faults, fails fast, and closes once the store heals', async () => {
    rig.faults.set('*', { kind: 'error' });
    for (let i = 0; i < 2; i++) await outcome(store.get(seeded));
    expect(store.breakerState()).toBe('open');
    const before = rig.calls();
    const r = await outcome(store.get(seeded));
    expect(r.code).toBe('store_unavailable');
    expect((r.error as Error).message).toContain('circuit_open');
    expect(rig.calls()).toBe(before);

    rig.faults.clear();
    await sleep(resilience.halfOpenAfterMs + 50);
    expect((await outcome(store.get(seeded))).code).toBe('ok');
    expect(store.breakerState()).toBe('closed');
  });

  it('answers are not faults: refusing a foreign object never opens the breaker', async () => {
    const v = freshValidator('foreign');
    await rig.createForeign(v, Buffer.from(serializeKeyMaterial(generatedKeyMaterial().material)).toString());
    for (let i = 0; i < 5; i++) await expect(store.get(v)).rejects.toBeInstanceOf(KeyStoreOwnershipError);
    expect(store.breakerState()).toBe('closed');
  });
}

describeWithMoto('faults: aws-secrets-manager (moto behind the fault proxy)', () => describeFaults(awsRig));
describe('faults: gcp-secret-manager (emulator)', () => describeFaults(gcpRig));
describe('faults: vault (emulator)', () => describeFaults(vaultRig));
