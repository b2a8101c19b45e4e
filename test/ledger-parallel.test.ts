// Parallel verification (worker threads reading the SQLite file) must report
// exactly what the sequential walk reports, on a clean ledger and on each
// kind of tampering.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { fetchGrant, importValidator, pod } from './http/helpers';
import { testBroker } from './support/fixtures';

async function ledgerOnFile() {
  const path = join(await mkdtemp(join(tmpdir(), 'keyhold-par-')), 'state.db');
  const parallel = new SqliteStateStore(path, { parallelVerifyFrom: 1 });
  const b = await testBroker({ state: parallel });
  for (const id of ['va', 'vb', 'vc', 'vd', 've']) {
    await importValidator(b, id, [`eu1/validators/${id}-0`]);
    for (let i = 0; i < 4; i++) {
      await fetchGrant(b, await pod(`eu1/validators/${id}-0`), id);
      b.clock.advance(1000);
    }
  }
  await b.operations.checkpoint();
  // The same file through a store that never goes parallel, and a broker over it.
  const sequential = await testBroker({ state: new SqliteStateStore(path, { parallelVerifyFrom: Number.MAX_SAFE_INTEGER }), clock: b.clock, signer: b.parts.signer });
  return { b, parallel, sequential, db: parallel.rawDatabase() };
}

describe('parallel ledger verification', () => {
  it('runs in workers and agrees with the sequential walk, clean and after each kind of tampering', async () => {
    const { b, parallel, sequential, db } = await ledgerOnFile();
    const chains = (await parallel.chainHeads()).map((h) => h.chain);
    expect(await parallel.verifyChains(chains, new Map())).not.toBeNull();

    const clean = await b.operations.verify();
    expect(clean).toMatchObject({ ok: true, chains: 5, entries: 25, checkpoint: { verified: true } });
    expect(clean).toEqual(await sequential.operations.verify());

    const edits: [string, () => void][] = [
      ['changed', () => db.prepare("UPDATE ledger SET actor = 'operator:mallory' WHERE chain = 'vc' AND seq = 3").run()],
      ['deleted', () => db.prepare("DELETE FROM ledger WHERE chain = 'vb' AND seq = 2").run()],
      ['truncated', () => db.prepare("DELETE FROM ledger WHERE chain = 'vd' AND seq >= 4").run()],
    ];
    const expected = [
      { chain: 'vc', seq: 3, fault: 'hash_mismatch' },
      { chain: 'vb', seq: 2, fault: 'sequence_gap' },
      { chain: 'vb', seq: 2, fault: 'sequence_gap' },
    ];
    for (const [i, [, edit]] of edits.entries()) {
      edit();
      const par = await b.operations.verify();
      const seq = await sequential.operations.verify();
      expect(par.problem).toEqual(expected[i]);
      expect(par.problem).toEqual(seq.problem);
    }
  }, 60_000);
});
