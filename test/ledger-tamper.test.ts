// An attacker with write access to the state database edits the ledger
// directly. `verify` must name the first bad row for each kind of edit, and
// the signed checkpoint must catch a cut-off tail that leaves a valid chain.

import { beforeEach, describe, expect, it } from 'vitest';
import { checkpointDigest } from '../src/core/checkpoints';
import { sealEntry } from '../src/core/ledger';
import type { StoredCheckpoint } from '../src/ports';
import type { SqliteStateStore } from '../src/stores/sqlite/state-store';
import { fetchGrant, importValidator, pod, slot0, slot1 } from './http/helpers';
import { testBroker, type TestBroker } from './support/fixtures';

let b: TestBroker;
let db: ReturnType<SqliteStateStore['rawDatabase']>;

beforeEach(async () => {
  b = await testBroker();
  await importValidator(b);
  for (let i = 0; i < 6; i++) {
    await fetchGrant(b, await pod(i % 2 ? slot1 : slot0));
    b.clock.advance(1000);
  }
  await b.operations.checkpoint();
  db = (b.parts.state as SqliteStateStore).rawDatabase();
  expect((await b.operations.verify()).ok).toBe(true);
});

const problem = async () => (await b.operations.verify()).problem;

describe('ledger tampering in the database', () => {
  it('a changed row', async () => {
    db.prepare("UPDATE ledger SET actor = 'operator:mallory' WHERE chain = 'v1' AND seq = 4").run();
    expect(await problem()).toEqual({ chain: 'v1', seq: 4, fault: 'hash_mismatch' });
  });

  it('a deleted row', async () => {
    db.prepare("DELETE FROM ledger WHERE chain = 'v1' AND seq = 3").run();
    expect(await problem()).toEqual({ chain: 'v1', seq: 3, fault: 'sequence_gap' });
  });

  it('two swapped rows (contents exchanged, positions kept)', async () => {
    const cols = 'time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash';
    const r2 = db.prepare(`SELECT ${cols} FROM ledger WHERE chain = 'v1' AND seq = 2`).get() as Record<string, unknown>;
    const r5 = db.prepare(`SELECT ${cols} FROM ledger WHERE chain = 'v1' AND seq = 5`).get() as Record<string, unknown>;
    const set = db.prepare(`UPDATE ledger SET ${cols.split(', ').map((c) => `${c} = @${c}`).join(', ')} WHERE chain = 'v1' AND seq = @seq`);
    set.run({ ...r5, seq: 2 });
    set.run({ ...r2, seq: 5 });
    expect(await problem()).toEqual({ chain: 'v1', seq: 2, fault: 'broken_link' });
  });

  it('an inserted row, even one hashed correctly onto its predecessor', async () => {
    const prev = db.prepare("SELECT seq, hash FROM ledger WHERE chain = 'v1' AND seq = 2").get() as { seq: number; hash: string };
    db.prepare("UPDATE ledger SET seq = seq + 1000 WHERE chain = 'v1' AND seq > 2").run();
    db.prepare("UPDATE ledger SET seq = seq - 999 WHERE chain = 'v1' AND seq > 1000").run();
    const forged = sealEntry({ chain: 'v1', time: 0, actor: 'operator:mallory', action: 'promoted', validator: 'v1', epoch: 9, slot: slot1, reason: 'x', details: {} }, { chain: 'v1', seq: prev.seq, hash: prev.hash });
    db.prepare('INSERT INTO ledger (chain, seq, time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash) VALUES (@chain, @seq, @time, @actor, @action, @validator, @epoch, @slot, @reason, @details, @prevHash, @hash)').run({ ...forged, details: '{}' });
    expect(await problem()).toEqual({ chain: 'v1', seq: 4, fault: 'broken_link' });
  });

  it('a cut-off tail, which leaves a valid chain but not the checkpointed head', async () => {
    db.prepare("DELETE FROM ledger WHERE chain = 'v1' AND seq >= 5").run();
    expect(await problem()).toEqual({ chain: 'v1', seq: 7, fault: 'truncated' });
  });

  it('a forged checkpoint', async () => {
    const row = db.prepare('SELECT seq, body FROM checkpoint_chain ORDER BY seq DESC LIMIT 1').get() as { seq: number; body: string };
    const body = JSON.parse(row.body) as { heads: { chain: string; seq: number }[] };
    body.heads = body.heads.map((h) => ({ ...h, seq: 2 }));
    db.prepare('UPDATE checkpoint_chain SET body = ? WHERE seq = ?').run(JSON.stringify(body), row.seq);
    expect(await problem()).toMatchObject({ chain: '_checkpoints', fault: 'checkpoint_digest' });
  });

  it('a checkpoint re-hashed to match forged heads, but not re-signed', async () => {
    const row = db.prepare('SELECT seq, body FROM checkpoint_chain ORDER BY seq DESC LIMIT 1').get() as { seq: number; body: string };
    const c = JSON.parse(row.body) as StoredCheckpoint;
    const heads = c.heads.map((h) => ({ ...h, seq: 2 }));
    const forged = { ...c, heads, digest: checkpointDigest({ ...c, heads }) };
    db.prepare('UPDATE checkpoint_chain SET body = ? WHERE seq = ?').run(JSON.stringify(forged), row.seq);
    expect(await problem()).toEqual({ chain: '_checkpoints', seq: row.seq, fault: 'checkpoint_signature' });
  });

  it('a checkpoint removed from the middle of the checkpoint chain', async () => {
    await b.operations.checkpoint();
    db.prepare('DELETE FROM checkpoint_chain WHERE seq = 1').run();
    expect(await problem()).toEqual({ chain: '_checkpoints', seq: 1, fault: 'checkpoint_gap' });
  });
});
