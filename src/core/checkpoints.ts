// Signed checkpoints form a chain of their own, like a transparency log's
// signed tree heads: each commits to every chain head and to the previous
// checkpoint's digest. Someone who can write to the store but not sign cannot
// remove a checkpoint, rewrite one, or rewrite the history one covers without
// breaking a link that a verifier holding any earlier checkpoint will check.
// Pure: the caller reads the store, checks signatures, and passes the clock in.

import { z } from 'zod';
import { canonicalJson, checkAgainstCheckpoint, genesisHash, sha256Hex, type ChainHead, type CheckpointFault, type VerifyProblem } from './ledger';

export interface CheckpointBody {
  /** Position in the checkpoint chain, from 1. */
  readonly seq: number;
  /** The digest of checkpoint `seq - 1`; genesisHash for the first. */
  readonly prev: string;
  readonly time: number;
  readonly heads: readonly ChainHead[];
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
  return sha256Hex(canonicalJson({ v: 2, seq: body.seq, prev: body.prev, time: body.time, maxLagMs: body.maxLagMs, heads }));
}

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

/** Entries in `heads` beyond what `latest` covers. */
export function uncoveredCount(latest: CheckpointBody | null, heads: readonly ChainHead[]): number {
  const covered = new Map((latest?.heads ?? []).map((h) => [h.chain, h.seq]));
  let n = 0;
  for (const h of heads) n += Math.max(0, h.seq - (covered.get(h.chain) ?? 0));
  return n;
}

export function checkpointDue(s: CheckpointSchedule, latest: CheckpointBody | null, heads: readonly ChainHead[], now: number): boolean {
  const n = uncoveredCount(latest, heads);
  if (n === 0) return false;
  return latest === null || n >= s.everyEntries || now - latest.time >= s.everyMs;
}

/** The checkpoint that follows `latest`; time never goes back along the chain, whatever the clocks do. */
export function nextCheckpoint(latest: SignedCheckpoint | null, heads: readonly ChainHead[], now: number, maxLagMs: number): CheckpointBody & { digest: string } {
  const body: CheckpointBody = {
    seq: (latest?.seq ?? 0) + 1,
    prev: latest?.digest ?? genesisHash,
    time: Math.max(now, latest?.time ?? now),
    heads: [...heads].sort(byChain),
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
  private expect = 1;
  private last: SignedCheckpoint | null = null;
  private problem: VerifyProblem | null = null;
  private trustSeen = false;

  constructor(private readonly trusted: SignedCheckpoint | null = null) {}

  push(c: SignedCheckpoint): boolean {
    if (this.problem) return false;
    this.problem = this.check(c);
    if (this.problem) return false;
    if (this.trusted && c.seq === this.trusted.seq) this.trustSeen = true;
    this.last = c;
    this.expect += 1;
    return true;
  }

  private check(c: SignedCheckpoint): VerifyProblem | null {
    if (c.seq !== this.expect) return fault(this.expect, 'checkpoint_gap');
    if (c.prev !== (this.last?.digest ?? genesisHash)) return fault(c.seq, 'checkpoint_link');
    if (checkpointDigest(c) !== c.digest) return fault(c.seq, 'checkpoint_digest');
    if (this.last && !extendsHeads(this.last, c)) return fault(c.seq, 'checkpoint_regressed');
    if (this.trusted && c.seq === this.trusted.seq && c.digest !== this.trusted.digest) return fault(c.seq, 'trust_mismatch');
    return null;
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
 * which a store writer controls): a chain `latest` covers must still be
 * there, not shorter, and at the same position with the same hash. What
 * this cannot see is a chain that moved on: its entry at the position
 * `latest` names must still carry the hash `latest` signed, or the new
 * checkpoint would vouch for a history rewritten behind `latest` (nothing
 * later compares the old hash). Those positions are returned, for the
 * caller to read and hold with `checkAgainstCheckpoint`.
 */
export function extensionCheck(latest: CheckpointBody, heads: readonly ChainHead[]): { problem: VerifyProblem | null; moved: ChainHead[] } {
  const now = new Map(heads.map((h) => [h.chain, h]));
  const moved: ChainHead[] = [];
  for (const h of [...latest.heads].sort(byChain)) {
    const n = now.get(h.chain);
    if (n === undefined || n.seq < h.seq) return { problem: { chain: h.chain, seq: h.seq, fault: 'truncated' }, moved };
    if (n.seq === h.seq && n.hash !== h.hash) return { problem: { chain: h.chain, seq: h.seq, fault: 'hash_mismatch' }, moved };
    if (n.seq > h.seq) moved.push(h);
  }
  return { problem: null, moved };
}

/** Every chain `a` covers is in `b`, at the same entry or a later one. */
function extendsHeads(a: CheckpointBody, b: CheckpointBody): boolean {
  const later = new Map(b.heads.map((h) => [h.chain, h]));
  return a.heads.every((h) => {
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
  for (const cp of [f.latest, f.trusted]) {
    if (!cp) continue;
    const hashesAt = cp === f.latest ? f.hashesAt : f.trusted!.hashesAt;
    const problem = checkAgainstCheckpoint(cp, (chain) => hashesAt.get(chain) ?? null);
    if (problem) return problem;
  }
  return checkCoverage(f.latest, f.firstUncovered, f.now);
}
