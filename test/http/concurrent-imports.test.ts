// Importing a fleet must cost each import its own validator, not the fleet:
// an import that read every record, or signed a checkpoint over every chain
// head, made seeding 10,000 validators quadratic (and, on DynamoDB, wrote a
// checkpoint per import past the 400 KB item limit). Imports that finish
// together (their commits landing from the SQLite commit worker a few at a
// time) all succeed, and the checkpoint schedule covers them.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { StoreError, type StateStore } from '../../src/ports';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { withMethods } from '../support/faulty-stores';
import { testBroker } from '../support/fixtures';
import { importValidator } from './helpers';

/** The store, counting the calls whose cost grows with the fleet. */
function counting(inner: StateStore) {
  const calls = { listValidators: 0, chainHeads: 0 };
  const store = withMethods(inner, {
    listValidators: (original) => () => {
      calls.listValidators += 1;
      return original();
    },
    chainHeads: (original) => () => {
      calls.chainHeads += 1;
      return original();
    },
  });
  return { store, calls };
}

it('twenty concurrent imports on a file store all succeed, and one checkpoint covers them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-imports-'));
  const state = new SqliteStateStore(join(dir, 'state.db'));
  try {
    const end = Date.now() + 20_000;
    while (!state.committingInWorker && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const b = await testBroker({ state });
    await Promise.all(Array.from({ length: 20 }, (_, i) => importValidator(b, `v${i}`)));
    expect((await state.chainHeads()).length).toBe(20);
    const { checkpoint, chains } = await b.operations.checkpoint();
    expect(checkpoint.heads.length).toBe(20);
    expect(chains).toBe(20);
    expect((await b.operations.verify()).ok).toBe(true);
  } finally {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('reads the fleet once per instance for its unindexed keys, and signs no checkpoint per import', async () => {
  const { store, calls } = counting(new SqliteStateStore(':memory:'));
  const b = await testBroker({ state: store });
  for (let i = 0; i < 12; i++) await importValidator(b, `v${i}`);
  expect(calls).toEqual({ listValidators: 1, chainHeads: 0 });
  expect(await store.latestCheckpoint()).toBeNull();
});

it('reads the unindexed keys again after a failed read, rather than keeping the failure', async () => {
  const inner = new SqliteStateStore(':memory:');
  let down = true;
  const store = withMethods<StateStore>(inner, { listValidators: (original) => () => (down ? Promise.reject(new StoreError('sqlite', 'store down')) : original()) });
  const b = await testBroker({ state: store });
  await expect(importValidator(b, 'v1')).rejects.toThrow(/import failed: 503/);
  expect(await inner.getValidator('v1')).toBeNull();
  down = false;
  await importValidator(b, 'v1');
  expect(await inner.getValidator('v1')).not.toBeNull();
});

it('leaves an import to the checkpoint schedule: the first commit past the interval signs one that names it', async () => {
  const state = new SqliteStateStore(':memory:');
  const b = await testBroker({ state, checkpointSchedule: { everyEntries: 1000, everyMs: 60_000 } });
  await importValidator(b, 'v1');
  expect(await state.latestCheckpoint()).toBeNull();
  b.clock.advance(60_000);
  await importValidator(b, 'v2');
  const heads = (await state.latestCheckpoint())?.heads.map((h) => h.chain);
  expect(heads).toContain('v1');
});
