// Every single change, deletion, swap, insertion and truncation of a
// 100,000-entry ledger is caught: exhaustively, at every position of every
// chain, by the same verifier the broker runs (resumed from the verified
// prefix, which is all the state it has, so each case costs a few hashes);
// and a sample of each kind done to the SQLite rows and caught by the
// broker's full `verify`.

import { beforeAll, describe, expect, it } from 'vitest';
import { auditVerdict, type SignedCheckpoint } from '../../src/core/checkpoints';
import { ChainVerifier, sealAll, sealEntry, type LedgerDraft, type LedgerEntry, type VerifyProblem } from '../../src/core/ledger';
import { SqliteStateStore } from '../../src/stores/sqlite/state-store';
import { testBroker, type TestBroker } from '../support/fixtures';

const chainCount = 100;
const perChain = 1000;

let b: TestBroker;
let store: SqliteStateStore;
let chains: Map<string, LedgerEntry[]>;
let checkpoint: SignedCheckpoint;
let covered: Map<string, number>;
let checkpointHashes: Map<string, string>;

const draftAt = (chain: string, k: number, t0: number): LedgerDraft => ({
  chain,
  time: t0 + k * chainCount * 10,
  actor: `pod:${chain}-${k % 7}`,
  action: k % 5 === 0 ? 'grant_issued' : 'grant_reissued',
  validator: chain,
  epoch: 1 + Math.floor(k / 100),
  slot: `eu1/validators/${chain}-0`,
  reason: null,
  details: { n: k },
});

beforeAll(async () => {
  store = new SqliteStateStore(':memory:');
  b = await testBroker({ state: store });
  const t0 = b.clock.now() - chainCount * perChain * 10;
  const db = store.rawDatabase();
  const insert = db.prepare(
    'INSERT INTO ledger (chain, seq, time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash) VALUES (@chain, @seq, @time, @actor, @action, @validator, @epoch, @slot, @reason, @details, @prevHash, @hash)',
  );
  chains = new Map();
  db.transaction(() => {
    for (let c = 0; c < chainCount; c++) {
      const id = `v${String(c).padStart(3, '0')}`;
      const sealed = sealAll(Array.from({ length: perChain }, (_, k) => draftAt(id, k, t0 + c)), new Map([[id, null]]));
      chains.set(id, sealed);
      for (const e of sealed) insert.run({ ...e, details: JSON.stringify(e.details) });
    }
  })();
  ({ checkpoint } = await b.operations.checkpoint());
  expect(checkpoint.heads).toHaveLength(chainCount);
  covered = new Map(checkpoint.heads.map((h) => [h.chain, h.seq]));
  checkpointHashes = new Map(checkpoint.heads.map((h) => [h.chain, h.hash]));
}, 120_000);

type Kind = 'change' | 'deletion' | 'swap' | 'insertion' | 'truncation';
const kinds: Kind[] = ['change', 'deletion', 'swap', 'insertion', 'truncation'];

/** The chain from position `i` (1-based) on, after one edit of `kind` there, lazily: a verifier stops at the first bad entry. */
function* editedFrom(kind: Kind, chain: readonly LedgerEntry[], i: number): Generator<LedgerEntry> {
  const at = (p: number) => chain[p - 1]!;
  const rest = function* (from: number, shift: number) {
    for (let p = from; p <= chain.length; p++) yield shift === 0 ? at(p) : { ...at(p), seq: p + shift };
  };
  switch (kind) {
    case 'change':
      yield { ...at(i), actor: 'operator:mallory' };
      yield* rest(i + 1, 0);
      return;
    case 'deletion':
      // Positions kept as stored: the row is gone, its successors keep their seqs.
      yield* rest(i + 1, 0);
      return;
    case 'swap': {
      // Two neighbours exchanged, renumbered to fit: each keeps its own hash.
      if (i === chain.length) return yield* editedFrom('change', chain, i);
      yield { ...at(i + 1), seq: i };
      yield { ...at(i), seq: i + 1 };
      yield* rest(i + 2, 0);
      return;
    }
    case 'insertion': {
      // A forged entry sealed correctly onto its predecessor, the rest renumbered behind it.
      const { seq: _s, prevHash: _p, hash: _h, ...d } = at(i);
      yield sealEntry({ ...d, actor: 'operator:mallory' }, i === 1 ? null : { chain: d.chain, seq: i - 1, hash: at(i - 1).hash });
      yield* rest(i, 1);
      return;
    }
    case 'truncation':
      return;
  }
}

/** What the broker's verify decides for one chain, resumed from the verified prefix before `i`. */
function verdict(chainId: string, chain: readonly LedgerEntry[], i: number, entries: Iterable<LedgerEntry>): VerifyProblem | null {
  const v = new ChainVerifier(chainId, i === 1 ? null : { chain: chainId, seq: i - 1, hash: chain[i - 2]!.hash });
  const wanted = covered.get(chainId)!;
  let hashAt: string | undefined = i - 1 === wanted ? chain[i - 2]!.hash : undefined;
  for (const e of entries) {
    if (!v.push(e)) break;
    if (e.seq === wanted) hashAt = e.hash;
  }
  // Other chains are untouched: their hashes are the checkpoint's. One shared map, this chain's slot set per case.
  const hashesAt = checkpointHashes;
  const original = hashesAt.get(chainId)!;
  if (hashAt === undefined) hashesAt.delete(chainId);
  else hashesAt.set(chainId, hashAt);
  try {
    return auditVerdict({ chainProblem: v.result(), checkpointProblem: null, latest: checkpoint, latestSigned: true, latestHeads: checkpoint.heads, hashesAt, firstUncovered: [], now: checkpoint.time });
  } finally {
    hashesAt.set(chainId, original);
  }
}

describe('a ledger of 100,000 entries', () => {
  it('verifies clean, through the broker', async () => {
    const report = await b.operations.verify();
    expect(report).toMatchObject({ ok: true, entries: chainCount * perChain, chains: chainCount });
  }, 60_000);

  it.each(kinds)('catches every single %s, at every position of every chain', (kind) => {
    let cases = 0;
    const missed: string[] = [];
    for (const [id, chain] of chains) {
      // The unedited chain passes the same check, so a catch below is the edit's doing.
      expect(verdict(id, chain, 1, chain)).toBeNull();
      for (let i = 1; i <= chain.length; i++) {
        cases += 1;
        if (verdict(id, chain, i, editedFrom(kind, chain, i)) === null) missed.push(`${id}/${i}`);
      }
    }
    expect(cases).toBe(chainCount * perChain);
    expect(missed).toEqual([]);
  });

  it('catches a sample of each, done to the SQLite rows, in the broker\'s full verify', async () => {
    const db = store.rawDatabase();
    const cols = 'chain, seq, time, actor, action, validator, epoch, slot, reason, details, prev_hash, hash';
    const rowsOf = (chain: string, from: number) => db.prepare(`SELECT ${cols} FROM ledger WHERE chain = ? AND seq >= ? ORDER BY seq`).all(chain, from) as Record<string, unknown>[];
    const put = db.prepare(`INSERT INTO ledger (${cols}) VALUES (@chain, @seq, @time, @actor, @action, @validator, @epoch, @slot, @reason, @details, @prev_hash, @hash)`);
    const edits: Record<Kind, (chain: string, i: number) => void> = {
      change: (c, i) => db.prepare("UPDATE ledger SET actor = 'operator:mallory' WHERE chain = ? AND seq = ?").run(c, i),
      deletion: (c, i) => db.prepare('DELETE FROM ledger WHERE chain = ? AND seq = ?').run(c, i),
      swap: (c, i) => {
        const [a, n] = rowsOf(c, i) as [Record<string, unknown>, Record<string, unknown>];
        db.prepare('DELETE FROM ledger WHERE chain = ? AND seq IN (?, ?)').run(c, i, i + 1);
        put.run({ ...n, seq: i });
        put.run({ ...a, seq: i + 1 });
      },
      insertion: (c, i) => {
        const rows = rowsOf(c, i);
        db.prepare('DELETE FROM ledger WHERE chain = ? AND seq >= ?').run(c, i);
        const prev = chains.get(c)![i - 2]!;
        const forged = sealEntry({ ...draftAt(c, i, 0), actor: 'operator:mallory' }, { chain: c, seq: prev.seq, hash: prev.hash });
        put.run({ ...forged, details: JSON.stringify(forged.details), prev_hash: forged.prevHash });
        for (const r of rows) put.run({ ...r, seq: (r.seq as number) + 1 });
      },
      truncation: (c, i) => db.prepare('DELETE FROM ledger WHERE chain = ? AND seq >= ?').run(c, i),
    };
    const expected: Record<Kind, (c: string, i: number) => VerifyProblem> = {
      change: (chain, seq) => ({ chain, seq, fault: 'hash_mismatch' }),
      deletion: (chain, seq) => ({ chain, seq, fault: 'sequence_gap' }),
      swap: (chain, seq) => ({ chain, seq, fault: 'broken_link' }),
      insertion: (chain, seq) => ({ chain, seq: seq + 1, fault: 'broken_link' }),
      truncation: (chain) => ({ chain, seq: perChain, fault: 'truncated' }),
    };
    const positions = [2, perChain - 1];
    for (const kind of kinds) {
      for (const [n, i] of positions.entries()) {
        const chain = `v${String((n * 37 + kinds.indexOf(kind) * 11) % chainCount).padStart(3, '0')}`;
        db.exec('SAVEPOINT edit');
        try {
          edits[kind](chain, i);
          expect((await b.operations.verify()).problem, `${kind} at ${chain}/${i}`).toEqual(expected[kind](chain, i));
        } finally {
          db.exec('ROLLBACK TO edit');
          db.exec('RELEASE edit');
        }
      }
    }
    expect((await b.operations.verify()).ok).toBe(true);
  }, 120_000);
});
