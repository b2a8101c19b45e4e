// The checkpointer after a failure: the decision is already committed, so a
// failed checkpoint is only logged, and the commits that follow do not each
// send the store the same heavy reads again while it is failing.

import { expect, it } from 'vitest';
import { defaultSchedule, nextCheckpoint } from '../core/checkpoints';
import type { LedgerEntry } from '../core/ledger';
import { StoreUnavailableError, type StateStore } from '../ports';
import { SqliteStateStore } from '../stores/sqlite/state-store';
import { GrantSigner, generateSigningJwk, signingKeyFromJwk } from '../grants/signer';
import { memoryLogger } from '../log';
import { withMethods } from '../../test/support/faulty-stores';
import { ManualClock, testSigner } from '../../test/support/fixtures';
import { Checkpointer, retryAfterFailureMs } from './checkpointer';

it('tries a failing checkpoint once per retry interval, however many commits come, and signs once the store answers', async () => {
  const inner = new SqliteStateStore(':memory:');
  let failing = true;
  let headReads = 0;
  const state = withMethods<StateStore>(inner, {
    chainHeads: (original) => () => {
      headReads += 1;
      return failing ? Promise.reject(new StoreUnavailableError('sqlite', 'TimeoutError')) : original();
    },
  });
  const clock = new ManualClock();
  const logger = memoryLogger();
  const cp = new Checkpointer({ state, signer: await testSigner(), clock, schedule: { ...defaultSchedule, everyEntries: 1 }, logger });
  const [entry] = await inner.commit({ entries: [{ chain: 'v1', time: clock.now(), actor: 'test', action: 'key_imported', validator: 'v1', epoch: 1, slot: null, reason: null, details: {} }] });
  const one: readonly LedgerEntry[] = [entry!];

  for (let i = 0; i < 50; i++) await cp.afterCommit(one);
  expect(headReads).toBe(1);
  clock.advance(retryAfterFailureMs - 1);
  for (let i = 0; i < 50; i++) await cp.afterCommit(one);
  expect(headReads).toBe(1);
  clock.advance(1);
  await cp.afterCommit(one);
  expect(headReads).toBe(2);
  expect(logger.lines.filter((l) => l.includes('"checkpoint_failed"'))).toHaveLength(2);

  failing = false;
  clock.advance(retryAfterFailureMs);
  await cp.afterCommit(one);
  expect((await inner.latestCheckpoint())?.heads).toEqual([{ chain: 'v1', seq: 1, hash: entry!.hash }]);
});

it('signs only on top of a latest checkpoint its keys signed, over chains that still hold it, and reads only the chains that moved', async () => {
  const state = new SqliteStateStore(':memory:');
  const clock = new ManualClock();
  const logger = memoryLogger();
  const signer = await testSigner();
  let positionReads = 0;
  const counted = withMethods<StateStore>(state, {
    readChain: (original) => (chain, from, limit) => {
      positionReads += 1;
      return original(chain, from, limit);
    },
  });
  const cp = new Checkpointer({ state: counted, signer, clock, schedule: defaultSchedule, logger });
  const draft = (chain: string) => ({ chain, time: clock.now(), actor: 'test', action: 'key_imported' as const, validator: chain, epoch: 1, slot: null, reason: null, details: {} });
  await state.commit({ entries: ['v1', 'v2', 'v3'].map(draft) });
  const { checkpoint: first } = await cp.sign();
  expect(positionReads).toBe(0);

  await state.commit({ entries: [draft('v2')] });
  const { checkpoint: second } = await cp.sign();
  expect(second.seq).toBe(2);
  expect(positionReads).toBe(1); // v2 moved: its entry at seq 1 is read; v1 and v3 are compared from the heads

  // A checkpoint written by someone without the broker's key, its digest right: nothing is signed on top of it.
  const forgedBody = nextCheckpoint(second, await state.chainHeads(), clock.now(), second.maxLagMs);
  expect(await state.putCheckpoint({ ...forgedBody, signature: 'not-a-signature' })).toBe(true);
  await state.commit({ entries: [draft('v1')] });
  await expect(cp.sign()).rejects.toMatchObject({ code: 'ledger_inconsistent', status: 409 });
  expect((await state.latestCheckpoint())!.seq).toBe(3);
  expect(logger.lines.filter((l) => l.includes('"checkpoint_refused"')).map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
    expect.objectContaining({ level: 'error', chain: '_checkpoints', seq: 3, fault: 'checkpoint_signature' }),
  ]);
  expect(first.seq).toBe(1);
});

it('keeps signing through a key rotation done as the README says, and stops when the old key is dropped before the new one signed', async () => {
  const state = new SqliteStateStore(':memory:');
  const clock = new ManualClock();
  const [oldKey, newKey] = await Promise.all([generateSigningJwk().then(signingKeyFromJwk), generateSigningJwk().then(signingKeyFromJwk)]);
  const at = (signer: GrantSigner) => new Checkpointer({ state, signer, clock, schedule: defaultSchedule });
  const decide = () => state.commit({ entries: [{ chain: 'v1', time: clock.now(), actor: 'test', action: 'key_imported', validator: 'v1', epoch: 1, slot: null, reason: null, details: {} }] });
  await decide();
  await at(new GrantSigner(oldKey)).sign();
  // Dropped too early: the latest checkpoint's key is gone from the ring.
  await decide();
  await expect(at(new GrantSigner(newKey)).sign()).rejects.toMatchObject({ code: 'ledger_inconsistent' });
  // Activated with the old key kept to verify, then a checkpoint, then dropped.
  await at(new GrantSigner(newKey, [oldKey])).sign();
  await decide();
  expect((await at(new GrantSigner(newKey)).sign()).checkpoint.seq).toBe(3);
});

it('lets an instance that did not sign the latest checkpoint learn what it covers from its keyframe, and refuses a fold that does not hold', async () => {
  const state = new SqliteStateStore(':memory:');
  const clock = new ManualClock();
  const signer = await testSigner();
  const draft = (chain: string) => ({ chain, time: clock.now(), actor: 'test', action: 'key_imported' as const, validator: chain, epoch: 1, slot: null, reason: null, details: {} });
  await state.commit({ entries: ['v1', 'v2', 'v3'].map(draft) });
  const a = new Checkpointer({ state, signer, clock, schedule: defaultSchedule });
  await a.sign();
  for (const chain of ['v1', 'v2', 'v1']) {
    await state.commit({ entries: [draft(chain)] });
    await a.sign();
  }
  let listings = 0;
  const counted = withMethods<StateStore>(state, {
    listCheckpoints: (original) => (from, limit) => {
      listings += 1;
      return original(from, limit);
    },
  });
  await state.commit({ entries: [draft('v3')] });
  const { checkpoint, chains } = await new Checkpointer({ state: counted, signer, clock, schedule: defaultSchedule }).sign();
  expect(listings).toBe(1);
  expect(checkpoint).toMatchObject({ seq: 5, keyframe: 1, heads: [{ chain: 'v3', seq: 2 }] });
  expect(chains).toBe(3);

  // One delta behind the latest edited in the store: a fresh instance's fold no longer reaches the signed latest.
  const db = state.rawDatabase();
  const row = db.prepare('SELECT body FROM checkpoint_chain WHERE seq = 3').get() as { body: string };
  db.prepare('UPDATE checkpoint_chain SET body = ? WHERE seq = 3').run(row.body.replace('"seq":2', '"seq":3'));
  await state.commit({ entries: [draft('v2')] });
  await expect(new Checkpointer({ state, signer, clock, schedule: defaultSchedule }).sign()).rejects.toMatchObject({ code: 'ledger_inconsistent' });
  expect((await state.latestCheckpoint())!.seq).toBe(5);
});
