// The checkpointer after a failure: the decision is already committed, so a
// failed checkpoint is only logged, and the commits that follow do not each
// send the store the same heavy reads again while it is failing.

import { expect, it } from 'vitest';
import { defaultSchedule } from '../core/checkpoints';
import type { LedgerEntry } from '../core/ledger';
import { StoreUnavailableError, type StateStore } from '../ports';
import { SqliteStateStore } from '../stores/sqlite/state-store';
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
