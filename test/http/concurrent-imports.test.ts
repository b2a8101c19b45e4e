// Imports that finish together (their commits landing from the SQLite commit
// worker a few at a time) each sign a checkpoint; one broker instance signs
// one at a time instead of racing itself for the next checkpoint seq.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { testBroker } from '../support/fixtures';
import { importValidator } from './helpers';

it('twenty concurrent imports on a file store all succeed, each with its checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyhold-imports-'));
  const state = new SqliteStateStore(join(dir, 'state.db'));
  try {
    const end = Date.now() + 20_000;
    while (!state.committingInWorker && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const b = await testBroker({ state });
    await Promise.all(Array.from({ length: 20 }, (_, i) => importValidator(b, `v${i}`)));
    expect((await state.latestCheckpoint())?.seq).toBe(20);
    expect((await b.operations.verify()).ok).toBe(true);
  } finally {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
