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

type Answer = ValidatorRecord | null | Error | ValidatorRecord[];

/**
 * A state store port whose answers the test hands out one by one: a record
 * (or null) for getValidator, the records found for getValidators. Each
 * batched call is noted with the ids it asked for, and `slow` ms pass on the
 * clock before it answers.
 */
function scripted(clock?: { t: number }, slow = 0): { store: StateStore; answers: Answer[]; batches: string[][] } {
  const answers: Answer[] = [];
  const batches: string[][] = [];
  const next = () => {
    const a = answers.shift();
    if (a === undefined) throw new Error('no answer scripted');
    if (a instanceof Error) throw a;
    return a;
  };
  const store = {
    name: 'scripted',
    async getValidator() {
      const a = next();
      if (Array.isArray(a)) throw new Error('a batch answer scripted for a single read');
      return a;
    },
    async getValidators(ids: readonly string[]) {
      batches.push([...ids]);
      if (clock) clock.t += slow;
      const a = next();
      if (!Array.isArray(a)) throw new Error('a single answer scripted for a batched read');
      return new Map(a.map((r) => [r.id, r]));
    },
  } as unknown as StateStore;
  return { store, answers, batches };
}

const recordOf = (id: string): ValidatorRecord => ({ ...v1, id });

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

describe('DesignationReader.readManyForRenewal', () => {
  it('answers recent reads from memory and reads the rest once each, in one store call, as of when it was sent', async () => {
    const clock = { t: 1_000 };
    const { store, answers, batches } = scripted(clock, 700);
    const reader = new DesignationReader(store, { now: () => clock.t }, timing, 20_000);
    answers.push(v1);
    await reader.read('v1');
    clock.t = 20_000;
    answers.push([recordOf('v2')]);
    const got = await reader.readManyForRenewal(['v1', 'v2', 'v3', 'v2']);
    expect(batches).toEqual([['v2', 'v3']]);
    expect(got.get('v1')).toEqual({ ok: true, read: { record: v1, readAt: 1_000, authoritative: false } });
    // Sent at 20,000 and answered at 20,700: invariant 3 counts from the sending.
    expect(got.get('v2')).toEqual({ ok: true, read: { record: recordOf('v2'), readAt: 20_000, authoritative: true } });
    expect(got.get('v3')).toEqual({ ok: true, read: { record: null, readAt: 20_000, authoritative: true } });
    expect([...got.keys()].sort()).toEqual(['v1', 'v2', 'v3']);
    // What the batch read is remembered as of its sending: an outage renews from it, capped from then.
    clock.t = 30_000;
    answers.push(new StoreUnavailableError('scripted', 'down'));
    expect(await reader.readForRenewal('v2')).toEqual({ record: recordOf('v2'), readAt: 20_000, authoritative: false });
  });

  it('asks the store nothing when every validator has a recent read', async () => {
    const clock = { t: 1_000 };
    const { store, answers, batches } = scripted(clock);
    const reader = new DesignationReader(store, { now: () => clock.t }, timing, 20_000);
    answers.push(v1);
    await reader.read('v1');
    expect((await reader.readManyForRenewal(['v1'])).get('v1')).toMatchObject({ ok: true, read: { readAt: 1_000, authoritative: false } });
    expect(batches).toEqual([]);
  });

  it('keeps a record this broker knows over an older or absent answer in the batch', async () => {
    const clock = { t: 1_000 };
    const { store, answers } = scripted(clock);
    const reader = new DesignationReader(store, { now: () => clock.t }, timing);
    const v2 = recordOf('v2');
    answers.push([v1, v2]);
    await reader.readManyForRenewal(['v1', 'v2']);
    const committed1 = takenOver(v1, 1_000);
    const committed2 = takenOver(v2, 1_000);
    reader.remember('v1', committed1, 1_000);
    reader.remember('v2', committed2, 1_000);
    clock.t = 2_000;
    // A lagging answer: v1 as it was, v2 missing.
    answers.push([v1]);
    const got = await reader.readManyForRenewal(['v1', 'v2']);
    expect(got.get('v1')).toEqual({ ok: true, read: { record: committed1, readAt: 1_000, authoritative: true } });
    expect(got.get('v2')).toEqual({ ok: true, read: { record: committed2, readAt: 1_000, authoritative: true } });
  });

  it('in an outage answers each validator exactly as readForRenewal would: its last read within the horizon, else state_store_unavailable', async () => {
    const clock = { t: 1_000 };
    const { store, answers } = scripted(clock);
    const reader = new DesignationReader(store, { now: () => clock.t }, timing);
    const [old, fresh] = [recordOf('old'), recordOf('fresh')];
    answers.push([old]);
    await reader.readManyForRenewal(['old']);
    clock.t = 200_000;
    answers.push([fresh]);
    await reader.readManyForRenewal(['fresh']);
    // `old` was read a horizon ago; `fresh` within it; `never` was not read.
    clock.t = 1_000 + timing.grantTtlMs + timing.outageToleranceMs;
    answers.push(new StoreUnavailableError('scripted', 'down'));
    const got = await reader.readManyForRenewal(['old', 'fresh', 'never']);
    expect(got.get('fresh')).toEqual({ ok: true, read: { record: fresh, readAt: 200_000, authoritative: false } });
    for (const v of ['old', 'never']) expect(got.get(v)).toMatchObject({ ok: false, error: { code: 'state_store_unavailable' } });
    for (const v of ['old', 'fresh', 'never']) {
      answers.push(new StoreUnavailableError('scripted', 'down'));
      const alone = await reader.readForRenewal(v).then(
        (read) => ({ ok: true, read }),
        (error: unknown) => ({ ok: false, error }),
      );
      expect(alone).toEqual(got.get(v));
    }
  });

  it('gives every validator a failure that is not the store\'s (a bug) as it is, never a fallback', async () => {
    const clock = { t: 1_000 };
    const { store, answers } = scripted(clock);
    const reader = new DesignationReader(store, { now: () => clock.t }, timing);
    answers.push([v1]);
    await reader.readManyForRenewal(['v1']);
    const bug = new TypeError('bug');
    answers.push(bug);
    const got = await reader.readManyForRenewal(['v1', 'v2']);
    expect(got.get('v1')).toEqual({ ok: false, error: bug });
    expect(got.get('v2')).toEqual({ ok: false, error: bug });
  });
});
