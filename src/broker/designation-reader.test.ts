// The reader never lets an older answer replace a record this broker already
// knows, and renews from the last read only within the horizon.

import { describe, expect, it } from 'vitest';
import { createRecord, type ValidatorRecord } from '../core/designation';
import { StoreUnavailableError, type StateStore } from '../ports';
import { DesignationReader } from './designation-reader';

const timing = { grantTtlMs: 60_000, outageToleranceMs: 300_000, maxClockSkewMs: 5_000, commitDeadlineMs: 10_000, commitSendWindowMs: 5_000 };
const v1 = createRecord({ id: 'v1', slots: ['eu1/validators/a-0', 'eu1/validators/b-0'], serviceAccounts: ['validator'], keyFingerprint: 'fp', keyFormat: 'eip2335', now: 0 });
const takenOver = (r: ValidatorRecord, now: number): ValidatorRecord => ({
  ...r,
  designation: { ...r.designation, epoch: r.designation.epoch + 1, podUid: 'new', state: 'held', notBefore: now + 400_000, updatedAt: now },
  version: r.version + 1,
});

/** A state store port whose answers the test hands out one by one. */
function scripted(): { store: StateStore; answers: (ValidatorRecord | null | Error)[] } {
  const answers: (ValidatorRecord | null | Error)[] = [];
  const store = {
    name: 'scripted',
    async getValidator() {
      const a = answers.shift();
      if (a === undefined) throw new Error('no answer scripted');
      if (a instanceof Error) throw a;
      return a;
    },
  } as unknown as StateStore;
  return { store, answers };
}

describe('DesignationReader', () => {
  it('keeps the record this broker committed when a later read answers an older one', async () => {
    const { store, answers } = scripted();
    let t = 1_000;
    const reader = new DesignationReader(store, { now: () => t }, timing);
    answers.push(v1);
    const first = await reader.read('v1');
    const committed = takenOver(v1, t);
    reader.remember('v1', committed, first.readAt);
    // A read sent later, answered from before the commit landed (a slow reply, a lagging replica).
    t = 2_000;
    answers.push(v1);
    const stale = await reader.read('v1');
    expect(stale.record).toEqual(committed);
    expect(stale.readAt).toBe(1_000);
    // In an outage, renewals continue from the committed record, not the stale one.
    t = 3_000;
    answers.push(new StoreUnavailableError('scripted', 'down'));
    const cached = await reader.readForRenewal('v1');
    expect(cached).toMatchObject({ record: committed, authoritative: false, readAt: 1_000 });
  });

  it('takes a newer record, and of two copies of one version the later read', async () => {
    const { store, answers } = scripted();
    let t = 1_000;
    const reader = new DesignationReader(store, { now: () => t }, timing);
    answers.push(v1);
    await reader.read('v1');
    const next = takenOver(v1, t);
    t = 2_000;
    answers.push(next);
    expect((await reader.read('v1')).record).toEqual(next);
    t = 3_000;
    answers.push(next);
    await reader.read('v1');
    // An older remembered copy does not displace the newer read.
    reader.remember('v1', v1, 5_000);
    reader.remember('v1', next, 2_500);
    t = 4_000;
    answers.push(new StoreUnavailableError('scripted', 'down'));
    expect(await reader.readForRenewal('v1')).toMatchObject({ record: next, readAt: 3_000 });
  });

  it('stops renewing from the last read once the horizon has passed', async () => {
    const { store, answers } = scripted();
    let t = 1_000;
    const reader = new DesignationReader(store, { now: () => t }, timing);
    answers.push(v1);
    await reader.read('v1');
    t = 1_000 + timing.grantTtlMs + timing.outageToleranceMs;
    answers.push(new StoreUnavailableError('scripted', 'down'));
    await expect(reader.readForRenewal('v1')).rejects.toMatchObject({ code: 'state_store_unavailable' });
  });

  it('renews from a read younger than the reuse period without asking the store, keeping that read\'s time for the expiry cap', async () => {
    const { store, answers } = scripted();
    let t = 1_000;
    const reader = new DesignationReader(store, { now: () => t }, timing, 60_000);
    answers.push(v1);
    await reader.read('v1');
    t = 60_999;
    // No answer is scripted: a store call would throw.
    expect(await reader.readForRenewal('v1')).toMatchObject({ record: v1, readAt: 1_000, authoritative: false });
    t = 61_000;
    const next = takenOver(v1, t);
    answers.push(next);
    expect(await reader.readForRenewal('v1')).toMatchObject({ record: next, readAt: 61_000, authoritative: true });
    expect(answers).toEqual([]);
    // Without a reuse period every renewal reads.
    const plain = new DesignationReader(store, { now: () => t }, timing);
    answers.push(v1, v1);
    await plain.read('v1');
    await plain.readForRenewal('v1');
    expect(answers).toEqual([]);
  });

  it('refuses a reuse period longer than the grant TTL', () => {
    const { store } = scripted();
    expect(() => new DesignationReader(store, { now: () => 0 }, timing, timing.grantTtlMs + 1)).toThrow(TypeError);
  });
});
