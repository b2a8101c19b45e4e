// Commits applied by the worker thread keep the store's contract: one
// winner of a compare-and-swap across instances, entries sealed in order, a
// commit past its send deadline refused; a commit with almost no send window
// left is applied on the deciding thread instead of being handed over.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommitDeadlineError, StateConflictError } from '../../ports';
import { draftFor, recordFor } from '../state-store.contract';
import { SqliteStateStore } from './state-store';

const dirs: string[] = [];
const stores: SqliteStateStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function loaded(path: string): Promise<SqliteStateStore> {
  const s = new SqliteStateStore(path);
  stores.push(s);
  const end = Date.now() + 20_000;
  while (!s.committingInWorker) {
    if (Date.now() > end) throw new Error('the commit worker did not load');
    await new Promise((r) => setTimeout(r, 20));
  }
  return s;
}

describe('sqlite commit worker', () => {
  it('applies commits in its own thread with the same compare-and-swap, ledger and deadline rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyhold-commit-worker-'));
    dirs.push(dir);
    const path = join(dir, 'state.db');
    const [a, b] = [await loaded(path), await loaded(path)];
    const r1 = recordFor('v1');
    const t = r1.designation.updatedAt;
    await a.commit({ record: { next: r1, expectedVersion: null }, entries: [draftFor('v1', t)] });
    const next = { ...r1, version: 2 };
    const clock = { now: () => t };
    const tries = Array.from({ length: 8 }, (_, i) =>
      (i % 2 ? a : b).commit({ record: { next, expectedVersion: 1 }, entries: [draftFor('v1', t, { details: { i } })], deadline: { sendBy: t + 5_000, clock } }),
    );
    const results = await Promise.allSettled(tries);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StateConflictError);
    expect((await b.getValidator('v1'))?.version).toBe(2);
    const chain = await a.readChain('v1', 1, 100);
    expect(chain.map((e) => e.seq)).toEqual([1, 2]);
    await expect(a.commit({ entries: [draftFor('v1', t)], deadline: { sendBy: t, clock } })).rejects.toBeInstanceOf(CommitDeadlineError);
    // 50 ms of window left: applied here, synchronously, and still counted.
    await a.commit({ entries: [draftFor('v1', t)], deadline: { sendBy: t + 50, clock } });
    expect((await b.readChain('v1', 1, 100)).length).toBe(3);
    expect(a.committingInWorker).toBe(true);
  });
});
