// Several broker instances in one process, each with its own store instance
// (its own client) on one shared backend, as many function instances would
// run behind a cloud function; and the ledger checks every multi-broker test
// makes at the end.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { buildBroker, type Broker } from '../../src/compose';
import type { ValidatorRecord } from '../../src/core/designation';
import type { LedgerEntry } from '../../src/core/ledger';
import type { EphemeralKey } from '../../src/grants/key-delivery';
import type { GrantSigner } from '../../src/grants/signer';
import type { PodIdentity } from '../../src/identity/pod-token';
import { memoryLogger } from '../../src/log';
import type { KeyStore, StateStore } from '../../src/ports';
import { effectiveEntries } from '../../src/stores/state-store.contract';
import { SqliteKeyStore } from '../../src/stores/sqlite/key-store';
import { ManualClock, ephemeralKeyPair, generatedKeyMaterial, testCluster, testOperator, testSigner, testTiming } from '../support/fixtures';

export const validator = 'v1';
export const slotA = 'eu1/validators/v1-0';
export const slotB = 'eu1/validators/v1-standby-0';

export interface Fleet {
  readonly clock: ManualClock;
  readonly brokers: Broker[];
  readonly ephemeral: EphemeralKey;
  pod(slot: string, uid: string): PodIdentity;
  /** A broker on a store instance the caller made (e.g. one that will crash). */
  add(state: StateStore): Broker;
  close(): Promise<void>;
}

let shared: { signer: GrantSigner; ephemeral: EphemeralKey } | undefined;

export async function fleet(stores: StateStore[]): Promise<Fleet> {
  shared ??= { signer: await testSigner(), ephemeral: (await ephemeralKeyPair()).publicJwk as EphemeralKey };
  const clock = new ManualClock();
  const cluster = await testCluster();
  const operator = await testOperator();
  // Key material is not under test here: one in-memory key store serves every broker.
  const keys: KeyStore = new SqliteKeyStore(':memory:', randomBytes(32), () => clock.now());
  const brokers: Broker[] = [];
  const add = (state: StateStore) => {
    const b = buildBroker({ state, keyStores: [keys], signer: shared!.signer, clusters: [cluster.config], operatorKeys: [operator.key], timing: testTiming, clock, logger: memoryLogger() });
    brokers.push(b);
    return b;
  };
  for (const s of stores) add(s);
  return {
    clock,
    brokers,
    ephemeral: shared.ephemeral,
    add,
    pod: (slot, uid) => {
      const [cluster, namespace, podName] = slot.split('/') as [string, string, string];
      return { cluster, namespace, podName, slot, podUid: uid, serviceAccount: 'validator' };
    },
    async close() {
      await Promise.allSettled([...brokers.map((b) => b.parts.state.close()), keys.close()]);
    },
  };
}

export const operator = { name: 'alice', role: 'operator' as const, principals: ['name:alice'] };

export async function importValidator(b: Broker): Promise<void> {
  await b.operations.importKey(operator, validator, { slots: [slotA, slotB], serviceAccounts: ['validator'] }, generatedKeyMaterial().material, 'test');
}

/** Actions that change the designation when they are committed. */
const changes = new Set(['key_imported', 'key_rotated', 'grant_issued', 'grant_reissued', 'takeover', 'promoted', 'promotion_proposed', 'released']);

/**
 * The ledger and the designation agree: the chains verify, every record
 * version has exactly one effective entry (none lost, none duplicated, no
 * designation change without its entry), and epochs never go back.
 */
export async function expectSound(store: StateStore, b: Broker, extraChanges = 0): Promise<{ record: ValidatorRecord; effective: LedgerEntry[] }> {
  const report = await b.operations.verify();
  expect(report.problem).toBeNull();
  expect(report.ok).toBe(true);
  const record = (await store.getValidator(validator))!;
  const effective = effectiveEntries(await store.readChain(validator, 1, 10_000));
  const changing = effective.filter((e) => changes.has(e.action));
  expect(changing.length + extraChanges).toBe(record.version);
  const epochs = changing.map((e) => e.epoch ?? 0);
  expect([...epochs].sort((a, b) => a - b)).toEqual(epochs);
  expect(epochs.at(-1)).toBe(record.designation.epoch);
  return { record, effective };
}
