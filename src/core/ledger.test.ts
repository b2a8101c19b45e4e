import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalEntryBody, canonicalJson, checkAgainstCheckpoint, entryHash, genesisHash, sealAll, sealEntry, verifyChain, type LedgerDraft, type LedgerEntry } from './ledger';

const draft = (i: number, chain = 'v1'): LedgerDraft => ({
  chain,
  time: 1000 + i,
  actor: 'pod:a',
  action: 'grant_issued',
  validator: chain,
  epoch: 1,
  slot: 'eu1/validators/v1-0',
  reason: null,
  details: { jti: `j${i}` },
});

function chainOf(n: number): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  for (let i = 0; i < n; i++) {
    const prev = out.at(-1);
    out.push(sealEntry(draft(i), prev ? { chain: 'v1', seq: prev.seq, hash: prev.hash } : null));
  }
  return out;
}

/** The first implementation, kept as the reference the fast one must match byte for byte. */
function referenceCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(referenceCanonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(',')}}`;
}

describe('canonicalJson', () => {
  it('matches the reference implementation on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(referenceCanonicalJson(v));
      }),
      { numRuns: 1000 },
    );
  });
  it('does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 4, e: 5 }] } })).toBe(canonicalJson({ a: { c: [3, { e: 5, f: 4 }], d: 2 }, b: 1 }));
  });
  it('refuses numbers JSON cannot carry', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
  });
});

describe('sealing', () => {
  it('starts at seq 1 from the genesis hash and links each entry to the last', () => {
    const c = chainOf(3);
    expect(c.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(c[0]!.prevHash).toBe(genesisHash);
    expect(c[2]!.prevHash).toBe(c[1]!.hash);
    expect(verifyChain('v1', c)).toBeNull();
  });
  it('continues each chain from its own head', () => {
    const entries = sealAll([draft(0, 'v1'), draft(1, 'v2'), draft(2, 'v1')], new Map());
    expect(entries.map((e) => [e.chain, e.seq])).toEqual([['v1', 1], ['v2', 1], ['v1', 2]]);
  });
});

describe('verifyChain names the first bad entry', () => {
  const n = 8;
  it('for a changed field of any row', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: n - 1 }), fc.constantFrom('actor', 'epoch', 'slot', 'time', 'reason', 'details'), (i, field) => {
        const c = chainOf(n);
        const changed = { ...c[i]!, [field]: field === 'epoch' || field === 'time' ? 99 : field === 'details' ? { jti: 'forged' } : 'forged' } as LedgerEntry;
        c[i] = changed;
        expect(verifyChain('v1', c)).toEqual({ chain: 'v1', seq: i + 1, fault: 'hash_mismatch' });
      }),
    );
  });
  it('for a changed field with a recomputed hash (the next row breaks)', () => {
    const c = chainOf(n);
    const forged = sealEntry({ ...draft(3), actor: 'operator:mallory' }, { chain: 'v1', seq: 3, hash: c[2]!.hash });
    c[3] = forged;
    expect(verifyChain('v1', c)).toEqual({ chain: 'v1', seq: 5, fault: 'broken_link' });
  });
  it('for a deleted row', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: n - 2 }), (i) => {
        const c = chainOf(n);
        c.splice(i, 1);
        expect(verifyChain('v1', c)).toEqual({ chain: 'v1', seq: i + 1, fault: 'sequence_gap' });
      }),
    );
  });
  it('for two swapped rows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: n - 2 }), (i) => {
        const c = chainOf(n);
        [c[i], c[i + 1]] = [c[i + 1]!, c[i]!];
        expect(verifyChain('v1', c)).toEqual({ chain: 'v1', seq: i + 1, fault: 'sequence_gap' });
      }),
    );
  });
  it('for an inserted row', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: n - 1 }), (i) => {
        const c = chainOf(n);
        const head = i === 0 ? null : { chain: 'v1', seq: c[i - 1]!.seq, hash: c[i - 1]!.hash };
        c.splice(i, 0, sealEntry({ ...draft(100), actor: 'operator:mallory' }, head));
        expect(verifyChain('v1', c)).toEqual({ chain: 'v1', seq: i + 2, fault: 'sequence_gap' });
      }),
    );
  });
  it('for a row from another chain', () => {
    const c = chainOf(3);
    c[1] = { ...c[1]!, chain: 'v2' };
    expect(verifyChain('v1', c)).toEqual({ chain: 'v1', seq: 2, fault: 'wrong_chain' });
  });
});

describe('checkAgainstCheckpoint', () => {
  const c = chainOf(5);
  const heads = [{ chain: 'v1', seq: 4, hash: c[3]!.hash }];
  const at = (entries: LedgerEntry[]) => (chain: string, seq: number) => entries.find((e) => e.chain === chain && e.seq === seq)?.hash ?? null;
  it('passes while the checkpointed head is still there', () => {
    expect(checkAgainstCheckpoint({ heads }, at(c))).toBeNull();
  });
  it('detects truncation past the checkpoint, which the chain alone cannot show', () => {
    const truncated = c.slice(0, 2);
    expect(verifyChain('v1', truncated)).toBeNull();
    expect(checkAgainstCheckpoint({ heads }, at(truncated))).toEqual({ chain: 'v1', seq: 4, fault: 'truncated' });
  });
});

describe('entryHash', () => {
  it('is exactly SHA-256 of the canonical JSON of the entry, for any entry', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const entry = fc.record({
      chain: text,
      seq: fc.nat(),
      prevHash: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
      time: fc.integer({ min: 0, max: 2 ** 52 }),
      actor: text,
      action: fc.constantFrom('grant_issued' as const, 'denied' as const, 'promoted' as const),
      validator: fc.option(text),
      epoch: fc.option(fc.nat()),
      slot: fc.option(text),
      reason: fc.option(text),
      details: fc.dictionary(text, fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null))),
    });
    fc.assert(
      fc.property(entry, (e) => {
        expect(entryHash(e)).toBe(createHash('sha256').update(canonicalEntryBody(e)).digest('hex'));
      }),
      { numRuns: 500 },
    );
  });
});
