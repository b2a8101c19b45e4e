import { describe, expect, it } from 'vitest';
import { acceptCandidate, isFinding, planWitness, witnessBody, witnessKey, type WitnessedObject } from './witness';
import type { SignedCheckpoint } from './checkpoints';

const cp = (seq: number): SignedCheckpoint => ({ seq, prev: '0'.repeat(64), time: 1000 * seq, maxLagMs: 180_000, heads: [{ chain: 'v1', seq, hash: 'a'.repeat(64) }], digest: seq.toString(16).padStart(64, '0'), signature: 'h.p.s' });
const obj = (key: string, version: string, order: number, deleteMarker = false): WitnessedObject => ({ key, version, order, deleteMarker });

describe('witness keys', () => {
  it('sort in seq order whatever the number of digits', () => {
    const keys = [10, 9, 100, 1].map((s) => witnessKey('p/', s));
    expect([...keys].sort()).toEqual([1, 9, 10, 100].map((s) => witnessKey('p/', s)));
    expect(witnessKey('', 7)).toBe('checkpoint-000000000007.json');
  });
});

describe('planWitness', () => {
  it('believes the first version of each key, newest seq first', () => {
    const plan = planWitness([obj(witnessKey('p/', 1), 'a', 1), obj(witnessKey('p/', 3), 'c', 1), obj(witnessKey('p/', 2), 'b', 1)]);
    expect(plan.findings).toEqual([]);
    expect(plan.candidates.map((c) => [c.seq, c.version])).toEqual([
      [3, 'c'],
      [2, 'b'],
      [1, 'a'],
    ]);
  });

  it('reports a later version and a delete marker, and still reads the first version', () => {
    const k = witnessKey('p/', 5);
    // Listed in any order: only `order` says which came first.
    const plan = planWitness([obj(k, 'rewrite', 3), obj(k, 'marker', 4, true), obj(k, 'original', 2)]);
    expect(plan.findings).toEqual([
      { kind: 'deleted', key: k },
      { kind: 'overwritten', key: k },
    ]);
    expect(plan.candidates).toEqual([{ key: k, seq: 5, version: 'original' }]);
  });

  it('reports names keyhold does not write, and offers no candidate for them', () => {
    const plan = planWitness([obj('p/checkpoint-1.json', 'x', 1), obj('p/notes.txt', 'y', 1)]);
    expect(plan.findings.map((f) => f.kind)).toEqual(['foreign', 'foreign']);
    expect(plan.candidates).toEqual([]);
  });

  it('offers no candidate for a key that holds only a delete marker', () => {
    const k = witnessKey('', 2);
    expect(planWitness([obj(k, 'm', 1, true)])).toEqual({ findings: [{ kind: 'deleted', key: k }], candidates: [] });
  });
});

describe('acceptCandidate', () => {
  const c = { key: witnessKey('p/', 4), seq: 4, version: 'v' };
  it('returns the checkpoint the body holds', () => {
    expect(acceptCandidate(c, witnessBody(cp(4)))).toEqual(cp(4));
  });
  it('refuses a body that is not a checkpoint, or holds another seq than its name', () => {
    expect(acceptCandidate(c, 'not json')).toEqual({ kind: 'malformed', key: c.key });
    expect(acceptCandidate(c, JSON.stringify({ ...cp(4), digest: 'short' }))).toEqual({ kind: 'malformed', key: c.key });
    const moved = acceptCandidate(c, witnessBody(cp(9)));
    expect(isFinding(moved) && moved).toEqual({ kind: 'misplaced', key: c.key, seq: 9 });
  });
});
