import { describe, expect, it } from 'vitest';
import {
  CheckpointChainVerifier,
  auditVerdict,
  checkCoverage,
  checkpointDigest,
  checkpointDue,
  defaultSchedule,
  extensionCheck,
  foldHeads,
  keyframeEvery,
  maxLagFor,
  nextCheckpoint,
  parseCheckpoint,
  type SignedCheckpoint,
} from './checkpoints';
import { canonicalJson, genesisHash, sha256Hex, type ChainHead } from './ledger';

const h = (chain: string, seq: number): ChainHead => ({ chain, seq, hash: `${chain}${seq}`.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a') });
const sign = (c: ReturnType<typeof nextCheckpoint>): SignedCheckpoint => ({ ...c, signature: 'x' });

function chainOf(n: number): SignedCheckpoint[] {
  const out: SignedCheckpoint[] = [];
  for (let i = 1; i <= n; i++) out.push(sign(nextCheckpoint(out.at(-1) ?? null, [h('v1', i), h('v2', i)], 1000 * i, 180_000)));
  return out;
}

describe('the checkpoint chain', () => {
  it('links each checkpoint to its predecessor, and never goes back in time', () => {
    const [a, b] = chainOf(2) as [SignedCheckpoint, SignedCheckpoint];
    expect(a).toMatchObject({ seq: 1, prev: genesisHash });
    expect(b).toMatchObject({ seq: 2, prev: a.digest });
    expect(nextCheckpoint(b, b.heads, 0, 1).time).toBe(b.time);
  });

  it('commits to every field: heads in any order give one digest, any other change another', () => {
    const [c] = chainOf(1) as [SignedCheckpoint];
    expect(checkpointDigest({ ...c, heads: [...c.heads].reverse() })).toBe(c.digest);
    for (const change of [{ seq: 2 }, { prev: 'f'.repeat(64) }, { time: 1 }, { maxLagMs: 1 }, { heads: [c.heads[0]!] }]) {
      expect(checkpointDigest({ ...c, ...change })).not.toBe(c.digest);
    }
  });

  it('verifies an intact chain, and names the first gap, broken link, bad digest or regression', () => {
    const cps = chainOf(5);
    const run = (list: SignedCheckpoint[], trusted: SignedCheckpoint | null = null) => {
      const v = new CheckpointChainVerifier(trusted);
      for (const c of list) v.push(c);
      return v.result();
    };
    expect(run(cps)).toBeNull();
    expect(run([...cps.slice(0, 2), ...cps.slice(3)])).toEqual({ chain: '_checkpoints', seq: 3, fault: 'checkpoint_gap' });
    const relinked = cps.map((c, i) => (i === 2 ? { ...c, prev: genesisHash } : c));
    expect(run(relinked)).toEqual({ chain: '_checkpoints', seq: 3, fault: 'checkpoint_link' });
    const edited = cps.map((c, i) => (i === 3 ? { ...c, time: 1 } : c));
    expect(run(edited)).toEqual({ chain: '_checkpoints', seq: 4, fault: 'checkpoint_digest' });
    // A chain dropped between two checkpoints, re-hashed consistently (only a signature would stop it).
    const dropped: SignedCheckpoint[] = [cps[0]!, sign(nextCheckpoint(cps[0]!, [h('v1', 2)], 3000, 180_000))];
    expect(run(dropped)).toEqual({ chain: '_checkpoints', seq: 2, fault: 'checkpoint_regressed' });
  });

  it('holds the chain to a trusted checkpoint: missing, or a different one at its seq', () => {
    const cps = chainOf(4);
    const v = (list: SignedCheckpoint[], t: SignedCheckpoint) => {
      const x = new CheckpointChainVerifier(t);
      for (const c of list) x.push(c);
      return x.result();
    };
    expect(v(cps, cps[2]!)).toBeNull();
    expect(v(cps.slice(0, 2), cps[2]!)).toEqual({ chain: '_checkpoints', seq: 3, fault: 'trust_missing' });
    expect(v([], cps[0]!)).toEqual({ chain: '_checkpoints', seq: 1, fault: 'trust_missing' });
    const other = chainOf(3).map((c) => sign(nextCheckpoint(null, c.heads, c.time + 1, 180_000)))[0]!;
    expect(v(cps, other)).toEqual({ chain: '_checkpoints', seq: 1, fault: 'trust_mismatch' });
  });
});

describe('the schedule', () => {
  it('is due after everyEntries uncovered entries, or everyMs after the last checkpoint, and never with nothing uncovered', () => {
    const s = { everyEntries: 10, everyMs: 60_000 };
    const [cp] = chainOf(1) as [SignedCheckpoint];
    const c = { time: cp.time, covered: new Map(cp.heads.map((x) => [x.chain, x])) };
    expect(checkpointDue(s, null, [], 0)).toBe(false);
    expect(checkpointDue(s, null, [h('v1', 1)], 0)).toBe(true);
    expect(checkpointDue(s, c, cp.heads, c.time + 10 * 60_000)).toBe(false);
    expect(checkpointDue(s, c, [h('v1', 1 + 4), h('v2', 1 + 6)], c.time + 1)).toBe(true);
    expect(checkpointDue(s, c, [h('v1', 1 + 4), h('v2', 1 + 4)], c.time + 1)).toBe(false);
    expect(checkpointDue(s, c, [h('v1', 2), h('v2', 1)], c.time + 59_999)).toBe(false);
    expect(checkpointDue(s, c, [h('v1', 2), h('v2', 1)], c.time + 60_000)).toBe(true);
  });

  it('promises, by default, coverage well within five minutes', () => {
    expect(maxLagFor(defaultSchedule)).toBeLessThanOrEqual(5 * 60_000);
    expect(maxLagFor({ everyEntries: 1, everyMs: 120_000 })).toBeLessThanOrEqual(5 * 60_000);
  });

  it('flags the oldest entry left uncovered past the signed lag', () => {
    const [c] = chainOf(1) as [SignedCheckpoint];
    const lag = c.maxLagMs;
    expect(checkCoverage(c, [{ chain: 'v1', seq: 2, time: 10_000 }], 10_000 + lag)).toBeNull();
    expect(checkCoverage(c, [{ chain: 'v2', seq: 3, time: 20_000 }, { chain: 'v1', seq: 2, time: 10_000 }], 20_001 + lag)).toEqual({ chain: 'v1', seq: 2, fault: 'uncovered' });
    expect(checkCoverage(null, [{ chain: 'v1', seq: 1, time: 0 }], 5 * 60_000 + 1)).toEqual({ chain: 'v1', seq: 1, fault: 'uncovered' });
  });
});

describe('auditVerdict', () => {
  const [c] = chainOf(1) as [SignedCheckpoint];
  const base = { chainProblem: null, checkpointProblem: null, latest: c, latestSigned: true, latestHeads: c.heads, hashesAt: new Map(c.heads.map((x) => [x.chain, x.hash])), firstUncovered: [], now: c.time };
  it('passes an intact ledger and reports problems in a fixed order', () => {
    expect(auditVerdict(base)).toBeNull();
    expect(auditVerdict({ ...base, latestSigned: false })).toEqual({ chain: '_checkpoints', seq: 1, fault: 'checkpoint_signature' });
    expect(auditVerdict({ ...base, hashesAt: new Map([['v1', c.heads[0]!.hash]]) })).toEqual({ chain: 'v2', seq: 1, fault: 'truncated' });
    expect(auditVerdict({ ...base, hashesAt: new Map([['v1', 'e'.repeat(64)], ['v2', c.heads[1]!.hash]]) })).toEqual({ chain: 'v1', seq: 1, fault: 'hash_mismatch' });
    const chainProblem = { chain: 'v1', seq: 1, fault: 'broken_link' as const };
    expect(auditVerdict({ ...base, chainProblem, latestSigned: false })).toEqual(chainProblem);
  });

  it('holds the trusted checkpoint\'s heads against the chains too, after the newest one\'s', () => {
    const [t, newest] = chainOf(2) as [SignedCheckpoint, SignedCheckpoint];
    const at = (cp: SignedCheckpoint) => new Map(cp.heads.map((x) => [x.chain, x.hash]));
    const sound = { ...base, latest: newest, latestHeads: newest.heads, hashesAt: at(newest) };
    expect(auditVerdict({ ...sound, trusted: { heads: t.heads, hashesAt: at(t) } })).toBeNull();
    // The newest matches a chain rewritten behind the anchor; only the anchor's hash gives it away.
    expect(auditVerdict({ ...sound, trusted: { heads: t.heads, hashesAt: new Map([['v1', 'e'.repeat(64)], ['v2', t.heads[1]!.hash]]) } })).toEqual({ chain: 'v1', seq: 1, fault: 'hash_mismatch' });
    expect(auditVerdict({ ...sound, trusted: { heads: t.heads, hashesAt: new Map([['v1', t.heads[0]!.hash]]) } })).toEqual({ chain: 'v2', seq: 1, fault: 'truncated' });
    expect(auditVerdict({ ...sound, hashesAt: new Map(), trusted: { heads: t.heads, hashesAt: new Map() } })).toEqual({ chain: 'v1', seq: 2, fault: 'truncated' });
  });
});

describe('extensionCheck', () => {
  const [latest] = chainOf(1) as [SignedCheckpoint];
  const [v1, v2] = latest.heads as [ChainHead, ChainHead];
  it('names the chains that moved on, whose old positions the signer must read', () => {
    expect(extensionCheck(latest.heads, [v1, v2])).toEqual({ problem: null, moved: [] });
    expect(extensionCheck(latest.heads, [h('v2', 5), v1, h('v3', 1)])).toEqual({ problem: null, moved: [v2] });
    expect(extensionCheck(latest.heads, [h('v1', 2), h('v2', 2)]).moved).toEqual([v1, v2]);
  });
  it('refuses a chain gone, cut back, or at the same position with another hash', () => {
    expect(extensionCheck(latest.heads, [v1]).problem).toEqual({ chain: 'v2', seq: 1, fault: 'truncated' });
    expect(extensionCheck([h('v1', 3)], [h('v1', 2)]).problem).toEqual({ chain: 'v1', seq: 3, fault: 'truncated' });
    expect(extensionCheck(latest.heads, [v1, { ...v2, hash: 'e'.repeat(64) }]).problem).toEqual({ chain: 'v2', seq: 1, fault: 'hash_mismatch' });
  });
});

describe('parseCheckpoint', () => {
  it('accepts what the broker writes and refuses anything else', () => {
    const [c] = chainOf(1) as [SignedCheckpoint];
    expect(parseCheckpoint(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(parseCheckpoint({ ...c, seq: 0 })).toBeNull();
    expect(parseCheckpoint({ ...c, digest: 'nothex' })).toBeNull();
    expect(parseCheckpoint({ ...c, heads: [{ chain: 'v1', seq: 1 }] })).toBeNull();
    expect(parseCheckpoint('x')).toBeNull();
  });
});

describe('keyframes and deltas', () => {
  const covers = (c: SignedCheckpoint, before = new Map<string, ChainHead>()) => foldHeads(before, c);
  /** A chain as a broker signs it: a keyframe, then deltas over what moved, a keyframe every keyframeEvery. */
  function signedChain(steps: ChainHead[][]): SignedCheckpoint[] {
    const out: SignedCheckpoint[] = [];
    let covered: Map<string, ChainHead> | null = null;
    for (const [i, heads] of steps.entries()) {
      const c = sign(nextCheckpoint(out.at(-1) ?? null, heads, 1000 * (i + 1), 180_000, covered));
      covered = covers(c, covered ?? new Map());
      out.push(c);
    }
    return out;
  }
  const verify = (list: SignedCheckpoint[], trusted: SignedCheckpoint | null = null) => {
    const v = new CheckpointChainVerifier(trusted);
    for (const c of list) v.push(c);
    return v;
  };

  it('names only the heads that moved, and new chains, between keyframes', () => {
    const [k, d] = signedChain([[h('v1', 1), h('v2', 1)], [h('v1', 1), h('v2', 3), h('v3', 1)]]) as [SignedCheckpoint, SignedCheckpoint];
    expect(k.keyframe).toBeUndefined();
    expect(d).toMatchObject({ seq: 2, keyframe: 1, heads: [h('v2', 3), h('v3', 1)] });
    const v = verify([k, d]);
    expect(v.result()).toBeNull();
    expect(v.latestHeads).toEqual([h('v1', 1), h('v2', 3), h('v3', 1)]);
    // Without what the latest covers (a broker that cannot know it), the next is a keyframe.
    expect(nextCheckpoint(d, v.latestHeads, 5000, 180_000).keyframe).toBeUndefined();
  });

  it('signs a keyframe every keyframeEvery checkpoints', () => {
    const steps = Array.from({ length: 2 * keyframeEvery + 1 }, (_, i) => [h('v1', i + 1), h('v2', 1)]);
    const list = signedChain(steps);
    expect(list.filter((c) => c.keyframe === undefined).map((c) => c.seq)).toEqual([1, keyframeEvery + 1, 2 * keyframeEvery + 1]);
    expect(list[keyframeEvery]!.heads).toHaveLength(2);
    expect(list[keyframeEvery + 1]).toMatchObject({ keyframe: keyframeEvery + 1, heads: [h('v1', keyframeEvery + 2)] });
    expect(verify(list).result()).toBeNull();
    expect(verify(list).latestHeads).toEqual(steps.at(-1));
  });

  it('keeps a keyframe in the form checkpoints had before deltas, so old chains verify unchanged, and commits a delta to its keyframe', () => {
    const [k, d] = signedChain([[h('v1', 1)], [h('v1', 2)]]) as [SignedCheckpoint, SignedCheckpoint];
    expect(k.digest).toBe(sha256Hex(canonicalJson({ v: 2, seq: k.seq, prev: k.prev, time: k.time, maxLagMs: k.maxLagMs, heads: k.heads })));
    expect(checkpointDigest({ ...d, keyframe: undefined })).not.toBe(d.digest);
    expect(checkpointDigest({ ...d, keyframe: 2 })).not.toBe(d.digest);
    expect(parseCheckpoint(JSON.parse(JSON.stringify(d)))).toEqual(d);
    expect(parseCheckpoint({ ...d, keyframe: 0 })).toBeNull();
  });

  it('refuses a delta first, one pointing at another keyframe, one moving a head back or restating it, and a keyframe dropping a chain', () => {
    const [k, d2, d3] = signedChain([[h('v1', 1), h('v2', 1)], [h('v1', 2), h('v2', 1)], [h('v1', 3), h('v2', 1)]]) as [SignedCheckpoint, SignedCheckpoint, SignedCheckpoint];
    const redo = (c: SignedCheckpoint, change: Partial<SignedCheckpoint>): SignedCheckpoint => {
      const body = { ...c, ...change };
      return { ...body, digest: checkpointDigest(body) };
    };
    const relink = (list: SignedCheckpoint[]) => list.reduce<SignedCheckpoint[]>((acc, c) => [...acc, redo(c, { prev: acc.at(-1)?.digest ?? genesisHash })], []);
    expect(verify([redo(k, { keyframe: 1 })]).result()).toEqual({ chain: '_checkpoints', seq: 1, fault: 'checkpoint_link' });
    expect(verify(relink([k, d2, redo(d3, { keyframe: 2 })])).result()).toEqual({ chain: '_checkpoints', seq: 3, fault: 'checkpoint_link' });
    expect(verify(relink([k, d2, redo(d3, { heads: [h('v1', 1)] })])).result()).toEqual({ chain: '_checkpoints', seq: 3, fault: 'checkpoint_regressed' });
    expect(verify(relink([k, d2, redo(d3, { heads: [h('v2', 1)] })])).result()).toEqual({ chain: '_checkpoints', seq: 3, fault: 'checkpoint_regressed' });
    expect(verify(relink([k, d2, redo(d3, { keyframe: undefined, heads: [h('v1', 3)] })])).result()).toEqual({ chain: '_checkpoints', seq: 3, fault: 'checkpoint_regressed' });
    expect(verify([k, d2, d3]).result()).toBeNull();
  });

  it('gives what a trusted delta covers, and folds from a keyframe mid-chain without its link back', () => {
    const list = signedChain([[h('v1', 1), h('v2', 1)], [h('v1', 2), h('v2', 1)], [h('v1', 2), h('v2', 5)]]);
    expect(verify(list, list[1]!).trustedHeads).toEqual([h('v1', 2), h('v2', 1)]);
    expect(verify(list, null).trustedHeads).toBeNull();
    const tail = signedChain(Array.from({ length: keyframeEvery + 2 }, (_, i) => [h('v1', i + 1)])).slice(keyframeEvery);
    const mid = new CheckpointChainVerifier(null, keyframeEvery + 1);
    for (const c of tail) mid.push(c);
    expect(mid.result()).toBeNull();
    expect(mid.latestHeads).toEqual([h('v1', keyframeEvery + 2)]);
    const fromDelta = new CheckpointChainVerifier(null, keyframeEvery + 2);
    fromDelta.push(tail[1]!);
    expect(fromDelta.result()).toMatchObject({ fault: 'checkpoint_link' });
  });
});
