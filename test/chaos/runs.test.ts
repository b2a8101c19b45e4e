// `npm run test:chaos`: a short fixed set of chaos runs, one per state store,
// and the control that proves the checks catch a broken broker. The long mode
// is `npm run chaos -- --runs N --seed S`.
import { describe, expect, it } from 'vitest';
import { firestoreEmulatorAvailable } from '../firestore-emulator';
import { motoAvailable } from '../support/moto-server';
import { chaosRun } from './run';
import type { StoreKind } from './stores';

const faultMs = 15_000;
const available: Record<StoreKind, { ok: boolean; tool: string }> = {
  vault: { ok: true, tool: 'the project\'s Vault emulator' },
  dynamodb: { ok: motoAvailable(), tool: 'moto_server' },
  firestore: { ok: firestoreEmulatorAvailable(), tool: 'gcloud and java (the Firestore emulator)' },
};
const progress = (l: string) => process.stderr.write(`${l}\n`);

describe('chaos runs', () => {
  // Fixed seeds: the same schedule of faults every CI run.
  for (const [store, seed] of [['vault', 101], ['dynamodb', 202], ['firestore', 303]] as const) {
    const { ok, tool } = available[store];
    if (!ok && process.env.CI) throw new Error(`${tool} is required in CI (it comes with the machine image, see /work/shared/WIRE.md)`);
    const test = ok ? it : it.skip;
    test(`${store}, seed ${seed}: no two holders, epochs rise, watermarks hold, the ledger tells it, the designated slot holds again${ok ? '' : ` (skipped: ${tool} not installed)`}`, async () => {
      const r = await chaosRun({ seed, store, faultMs, progress });
      expect(r.violations).toEqual([]);
      expect(r.settledMs).not.toBeNull();
      expect(Object.values(r.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
      expect(r.signings).toBeGreaterThan(0);
    });
  }

  it('the control (takeover wait removed, KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT=1) is caught: two holders at once', async () => {
    // The holder cut off from the brokers and its slot promoted away: without
    // the wait the promoted pod starts while the old one still holds.
    const r = await chaosRun({
      seed: 7,
      store: 'vault',
      faultMs: 10_000,
      unsafeNoTakeoverWait: true,
      weights: { isolate_and_promote: 20, promote: 0, latency: 0, drop: 0, reset: 0, kill_broker: 0, pause_broker: 0, replace_pod: 0 },
      progress,
    });
    expect(r.faults.isolate_and_promote ?? 0).toBeGreaterThan(0);
    expect(r.violations.map((v) => v.kind)).toContain('overlap');
  });
});
