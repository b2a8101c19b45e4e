// Signed checkpoints form a chain of their own, like a transparency log's
// signed tree heads: each commits to every chain head and to the previous
// checkpoint's digest. Someone who can write to the store but not sign cannot
// remove a checkpoint, rewrite one, or rewrite the history one covers without
// breaking a link that a verifier holding any earlier checkpoint will check.
// A checkpoint names every head only now and then (a keyframe); between
// keyframes each names the heads that moved since the one before it, so its
// size follows the fleet's activity, not the fleet. Folding from the last
// keyframe gives the full set a checkpoint covers (`foldHeads`).
// Pure: the caller reads the store, checks signatures, and passes the clock in.

import { z } from 'zod';
import { canonicalJson, checkAgainstCheckpoint, genesisHash, sha256Hex, type ChainHead, type CheckpointFault, type VerifyProblem } from './ledger';

export interface CheckpointBody {
  /** Position in the checkpoint chain, from 1. */
  readonly seq: number;
  /** The digest of checkpoint `seq - 1`; genesisHash for the first. */
  readonly prev: string;
  readonly time: number;
  /** A keyframe's: every chain head. A delta's: the heads that moved since checkpoint `seq - 1`, and new chains. */
  readonly heads: readonly ChainHead[];
  /**
   * Absent on a keyframe. On a delta, the seq of the keyframe its fold
   * starts from: the newest keyframe before it.
   */
  readonly keyframe?: number | undefined;
  /**
   * The broker's promise, signed with the rest: no entry stays uncovered by a
   * checkpoint for longer than this (ms). An offline verifier learns the
   * schedule it holds the ledger to from the checkpoint itself.
   */
  readonly maxLagMs: number;
}

export interface SignedCheckpoint extends CheckpointBody {
  readonly digest: string;
  /** Compact JWS by the broker's signing key over `{ checkpoint: digest }`. */
  readonly signature: string;
}

/** The first line of `keyhold audit export` names what the file is. */
export const ledgerExportFormat = 'keyhold-ledger-export';

/** The pseudo-chain checkpoint faults are reported on. */
export const checkpointChain = '_checkpoints';

const byChain = (a: ChainHead, b: ChainHead): number => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0);

export function checkpointDigest(body: CheckpointBody): string {
  const heads = [...body.heads].map((h) => ({ chain: h.chain, seq: h.seq, hash: h.hash })).sort(byChain);
  // A keyframe keeps the v2 form, so chains signed before deltas existed verify unchanged.
  if (body.keyframe === undefined) return sha256Hex(canonicalJson({ v: 2, seq: body.seq, prev: body.prev, time: body.time, maxLagMs: body.maxLagMs, heads }));
  return sha256Hex(canonicalJson({ v: 3, seq: body.seq, prev: body.prev, time: body.time, maxLagMs: body.maxLagMs, keyframe: body.keyframe, heads }));
}

/**
 * A keyframe at least every this many checkpoints: a broker instance that
 * did not sign the latest one folds at most this many to learn what it
 * covers, and the chain's keyframes cost 1/60 of naming every head each time.
 */
export const keyframeEvery = 60;

/** The seq of the keyframe `c`'s fold starts from (its own, for a keyframe). */
export const keyframeOf = (c: CheckpointBody): number => c.keyframe ?? c.seq;

/** `covered`, the set `c`'s predecessor covered, turned in place into the set `c` covers. */
function foldInto(covered: Map<string, ChainHead>, c: CheckpointBody): Map<string, ChainHead> {
  if (c.keyframe === undefined) covered.clear();
  for (const h of c.heads) covered.set(h.chain, { chain: h.chain, seq: h.seq, hash: h.hash });
  return covered;
}

/** The full set of heads `c` covers, given the set its predecessor covered. */
export const foldHeads = (before: ReadonlyMap<string, ChainHead>, c: CheckpointBody): Map<string, ChainHead> => foldInto(new Map(before), c);

export interface CheckpointSchedule {
  /** Checkpoint once this many entries are uncovered. */
  readonly everyEntries: number;
  /** Checkpoint once the latest checkpoint is this old and anything is uncovered. */
  readonly everyMs: number;
}

/** Defaults that keep every entry covered within about two minutes (the issue asks for at most five). */
export const defaultSchedule: CheckpointSchedule = { everyEntries: 1000, everyMs: 60_000 };

/**
 * How long an entry may stay uncovered under a schedule: the interval, once
 * more for the tick that notices it, and a minute for a slow store. A verify
 * that finds an older uncovered entry reports `uncovered`: checkpoints were
 * removed, or the broker stopped signing them.
 */
export const maxLagFor = (s: CheckpointSchedule): number => 2 * s.everyMs + 60_000;

/** Before any checkpoint is signed there is no signed promise: the five-minute bound of the issue applies. */
export const defaultMaxLagMs = 5 * 60_000;

/** Entries in `heads` beyond what `covered` (the latest checkpoint's full set) covers. */
export function uncoveredCount(covered: ReadonlyMap<string, ChainHead>, heads: readonly ChainHead[]): number {
  let n = 0;
  for (const h of heads) n += Math.max(0, h.seq - (covered.get(h.chain)?.seq ?? 0));
  return n;
}

export function checkpointDue(s: CheckpointSchedule, latest: { readonly time: number; readonly covered: ReadonlyMap<string, ChainHead> } | null, heads: readonly ChainHead[], now: number): boolean {
  const n = uncoveredCount(latest?.covered ?? new Map(), heads);
  if (n === 0) return false;
  return latest === null || n >= s.everyEntries || now - latest.time >= s.everyMs;
}

/**
 * The checkpoint that follows `latest`; time never goes back along the chain,
 * whatever the clocks do. Given what `latest` covers, it is a delta (the
 * heads that moved, and new chains) until a keyframe is due; without it, a
 * keyframe.
 */
export function nextCheckpoint(
  latest: SignedCheckpoint | null,
  heads: readonly ChainHead[],
  now: number,
  maxLagMs: number,
  covered: ReadonlyMap<string, ChainHead> | null = null,
): CheckpointBody & { digest: string } {
  const seq = (latest?.seq ?? 0) + 1;
  const delta = latest !== null && covered !== null && seq - keyframeOf(latest) < keyframeEvery;
  const body: CheckpointBody = {
    seq,
    prev: latest?.digest ?? genesisHash,
    time: Math.max(now, latest?.time ?? now),
    heads: (delta ? heads.filter((h) => (covered.get(h.chain)?.seq ?? 0) < h.seq) : [...heads]).sort(byChain),
    ...(delta ? { keyframe: keyframeOf(latest) } : {}),
    maxLagMs,
  };
  return { ...body, digest: checkpointDigest(body) };
}

const fault = (seq: number, f: CheckpointFault): VerifyProblem => ({ chain: checkpointChain, seq, fault: f });

/**
 * Feed the stored checkpoints in order. Only the newest needs its signature
 * checked (auditVerdict): each digest covers its predecessor's, so one valid
 * signature vouches for the whole chain behind it. Finds a gap, a broken link, a digest that does not match its body,
 * a checkpoint whose heads go back (a chain dropped or cut
 * between two checkpoints), and, given a trusted checkpoint, a store whose
 * chain does not contain it (removed, or rewritten behind it).
 */
export class CheckpointChainVerifier {
  private expect: number;
  private last: SignedCheckpoint | null = null;
  private problem: VerifyProblem | null = null;
  private trustSeen = false;
  private folded = new Map<string, ChainHead>();
  private trustedFold: ChainHead[] | null = null;
  /** The seq of the newest keyframe pushed. */
  private keyframe = 0;

  /**
   * `fromKeyframe`: start at that seq, which must hold a keyframe, without
   * checking its link back (a signer folding from the last keyframe to a
   * latest checkpoint whose signature it checked: the links forward tie
   * every one of them to that signature).
   */
  constructor(
    private readonly trusted: SignedCheckpoint | null = null,
    private readonly fromKeyframe: number | null = null,
  ) {
    this.expect = fromKeyframe ?? 1;
  }

  push(c: SignedCheckpoint): boolean {
    if (this.problem) return false;
    this.problem = this.check(c);
    if (this.problem) return false;
    if (this.trusted && c.seq === this.trusted.seq) this.trustSeen = true;
    // In place: a copy per delta would make a year of checkpoints cost a year times the fleet.
    foldInto(this.folded, c);
    this.keyframe = keyframeOf(c);
    if (this.trusted && c.seq === this.trusted.seq) this.trustedFold = [...this.folded.values()].sort(byChain);
    this.last = c;
    this.expect += 1;
    return true;
  }

  private check(c: SignedCheckpoint): VerifyProblem | null {
    if (c.seq !== this.expect) return fault(this.expect, 'checkpoint_gap');
    const first = this.last === null;
    if (!(first && this.fromKeyframe !== null) && c.prev !== (this.last?.digest ?? genesisHash)) return fault(c.seq, 'checkpoint_link');
    if (checkpointDigest(c) !== c.digest) return fault(c.seq, 'checkpoint_digest');
    if (c.keyframe !== undefined) {
      // A delta folds onto the newest keyframe, and only moves heads forward.
      if (first || c.keyframe !== this.keyframe) return fault(c.seq, 'checkpoint_link');
      if (!c.heads.every((h) => (this.folded.get(h.chain)?.seq ?? 0) < h.seq)) return fault(c.seq, 'checkpoint_regressed');
    } else if (!first && !extendsHeads([...this.folded.values()], c.heads)) return fault(c.seq, 'checkpoint_regressed');
    if (this.trusted && c.seq === this.trusted.seq && c.digest !== this.trusted.digest) return fault(c.seq, 'trust_mismatch');
    return null;
  }

  /** Every head the newest checkpoint that verified covers, its fold from the last keyframe. */
  get latestHeads(): ChainHead[] {
    return [...this.folded.values()].sort(byChain);
  }

  /** What the trusted checkpoint covers, once the chain reached it. */
  get trustedHeads(): ChainHead[] | null {
    return this.trustedFold;
  }

  /** The first problem, including a trusted checkpoint the store no longer reaches. */
  result(): VerifyProblem | null {
    if (this.problem) return this.problem;
    if (this.trusted && !this.trustSeen) return fault(this.trusted.seq, 'trust_missing');
    return null;
  }

  /** The newest checkpoint that verified. */
  get latest(): SignedCheckpoint | null {
    return this.last;
  }
}

/**
 * Before signing the checkpoint after `latest` over `heads` (the store's,
 * which a store writer controls), given `covered`, the full set `latest`
 * covers: a chain `latest` covers must still be
 * there, not shorter, and at the same position with the same hash. What
 * this cannot see is a chain that moved on: its entry at the position
 * `latest` names must still carry the hash `latest` signed, or the new
 * checkpoint would vouch for a history rewritten behind `latest` (nothing
 * later compares the old hash). Those positions are returned, for the
 * caller to read and hold with `checkAgainstCheckpoint`.
 */
export function extensionCheck(covered: readonly ChainHead[], heads: readonly ChainHead[]): { problem: VerifyProblem | null; moved: ChainHead[] } {
  const now = new Map(heads.map((h) => [h.chain, h]));
  const moved: ChainHead[] = [];
  for (const h of [...covered].sort(byChain)) {
    const n = now.get(h.chain);
    if (n === undefined || n.seq < h.seq) return { problem: { chain: h.chain, seq: h.seq, fault: 'truncated' }, moved };
    if (n.seq === h.seq && n.hash !== h.hash) return { problem: { chain: h.chain, seq: h.seq, fault: 'hash_mismatch' }, moved };
    if (n.seq > h.seq) moved.push(h);
  }
  return { problem: null, moved };
}

/** Every chain `a` covers is in `b`, at the same entry or a later one. */
function extendsHeads(a: readonly ChainHead[], b: readonly ChainHead[]): boolean {
  const later = new Map(b.map((h) => [h.chain, h]));
  return a.every((h) => {
    const n = later.get(h.chain);
    return n !== undefined && (n.seq > h.seq || (n.seq === h.seq && n.hash === h.hash));
  });
}

/**
 * The first entry of each chain beyond what `latest` covers, by its time: if
 * one is older than the lag `latest` promised (or, with no checkpoint, the
 * default), checkpoints are missing. `now` is the verifier's clock, or an
 * export's time for a file.
 */
export function checkCoverage(
  latest: CheckpointBody | null,
  firstUncovered: readonly { chain: string; seq: number; time: number }[],
  now: number,
): VerifyProblem | null {
  const lag = latest?.maxLagMs ?? defaultMaxLagMs;
  const late = firstUncovered.filter((e) => e.time < now - lag).sort((a, b) => a.time - b.time || (a.chain < b.chain ? -1 : 1))[0];
  return late ? { chain: late.chain, seq: late.seq, fault: 'uncovered' } : null;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();
export const signedCheckpointSchema = z.object({
  seq: count.min(1),
  prev: hex64,
  time: count,
  maxLagMs: count,
  heads: z.array(z.object({ chain: z.string().min(1).max(64), seq: count.min(1), hash: hex64 })),
  keyframe: count.min(1).optional(),
  digest: hex64,
  signature: z.string().max(4096),
});

/** A checkpoint from a file or a store: its shape, checked before anything relies on it. Null when malformed. */
export function parseCheckpoint(value: unknown): SignedCheckpoint | null {
  const r = signedCheckpointSchema.safeParse(value);
  return r.success ? r.data : null;
}

export interface AuditFindings {
  /** The first bad entry of any chain (chains in sorted order). */
  readonly chainProblem: VerifyProblem | null;
  /** From CheckpointChainVerifier.result(). */
  readonly checkpointProblem: VerifyProblem | null;
  /** The newest stored checkpoint, its signature already checked (`latestSigned`). */
  readonly latest: SignedCheckpoint | null;
  /** Every head `latest` covers (CheckpointChainVerifier.latestHeads). */
  readonly latestHeads: readonly ChainHead[];
  readonly latestSigned: boolean;
  /** chain → hash of the entry at the seq `latest` names for it. */
  readonly hashesAt: ReadonlyMap<string, string>;
  readonly firstUncovered: readonly { chain: string; seq: number; time: number }[];
  readonly now: number;
  /**
   * The trusted checkpoint, with chain → hash of the entry at the seq it
   * names. Its heads are held against the chains too: a history rewritten
   * behind it and then covered by a newer checkpoint (signed by a broker
   * that did not check, or over a store that changed in between) passes
   * every other check.
   */
  readonly trusted?: { readonly heads: readonly ChainHead[]; readonly hashesAt: ReadonlyMap<string, string> } | null;
}

/**
 * One verdict, in one order, for the broker's verify and the offline one:
 * entries, then the checkpoint chain and the trust anchor, then the newest
 * checkpoint's signature and heads, then the trusted one's heads, then
 * coverage.
 */
export function auditVerdict(f: AuditFindings): VerifyProblem | null {
  if (f.chainProblem) return f.chainProblem;
  if (f.checkpointProblem) return f.checkpointProblem;
  if (f.latest && !f.latestSigned) return fault(f.latest.seq, 'checkpoint_signature');
  const anchors = [...(f.latest ? [{ heads: f.latestHeads, hashesAt: f.hashesAt }] : []), ...(f.trusted ? [f.trusted] : [])];
  for (const a of anchors) {
    const problem = checkAgainstCheckpoint(a, (chain) => a.hashesAt.get(chain) ?? null);
    if (problem) return problem;
  }
  return checkCoverage(f.latest, f.firstUncovered, f.now);
}
