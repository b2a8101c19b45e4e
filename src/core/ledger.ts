// Ledger hashing: one hash chain per validator plus the broker chain. Each
// entry commits to its predecessor, so `verifyChain` finds any changed,
// removed, reordered or inserted row; signed checkpoints over all heads catch
// truncation. Pure: stores call `sealEntry` inside their transactions.

import * as crypto from 'node:crypto';
import type { Action } from './designation';

export const genesisHash = '0'.repeat(64);

/** What a decision writes down. Never key material: only ids, epochs, slots, reasons. */
export interface LedgerDraft {
  readonly chain: string;
  readonly time: number;
  readonly actor: string;
  readonly action: Action;
  readonly validator: string | null;
  readonly epoch: number | null;
  readonly slot: string | null;
  readonly reason: string | null;
  /** Small, public facts (fingerprints, store names, error codes). */
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
}

export interface LedgerEntry extends LedgerDraft {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

export interface ChainHead {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
}

/**
 * Deterministic JSON: keys sorted at every level (UTF-16 code unit order,
 * which is what the default sort uses), undefined members dropped, so the
 * hash never depends on insertion order. A plain loop: verify calls this for
 * every entry, and the functional version was the largest cost in its profile.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in ledger entry');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

export const sha256Hex: (data: string) => string =
  // One-shot hashing (Node >= 20.12) is twice as fast as createHash for short inputs.
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash(alg: string, data: string, enc: 'hex'): string }).hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * The hash of an entry: SHA-256 over the canonical JSON of its fields. The
 * fixed fields are written in their sorted order directly (verify hashes
 * every entry of every chain, and a generic sort per entry dominated its
 * profile); only `details` goes through canonicalJson. `canonicalEntryBody`
 * is the reference the fast path is tested against, byte for byte.
 */
export function entryHash(e: Omit<LedgerEntry, 'hash'>): string {
  const j = JSON.stringify;
  const body =
    `{"action":${j(e.action)},"actor":${j(e.actor)},"chain":${j(e.chain)},"details":${canonicalJson(e.details)},` +
    `"epoch":${canonicalJson(e.epoch)},"prevHash":${j(e.prevHash)},"reason":${j(e.reason)},"seq":${canonicalJson(e.seq)},` +
    `"slot":${j(e.slot)},"time":${canonicalJson(e.time)},"v":1,"validator":${j(e.validator)}}`;
  return sha256Hex(body);
}

export function canonicalEntryBody(e: Omit<LedgerEntry, 'hash'>): string {
  return canonicalJson({
    v: 1,
    chain: e.chain,
    seq: e.seq,
    prevHash: e.prevHash,
    time: e.time,
    actor: e.actor,
    action: e.action,
    validator: e.validator,
    epoch: e.epoch,
    slot: e.slot,
    reason: e.reason,
    details: e.details,
  });
}

/** The entry that follows `head` (null: the chain is empty). */
export function sealEntry(draft: LedgerDraft, head: ChainHead | null): LedgerEntry {
  if (head !== null && head.chain !== draft.chain) throw new TypeError('head belongs to another chain');
  const unsealed = { ...draft, details: { ...draft.details }, seq: (head?.seq ?? 0) + 1, prevHash: head?.hash ?? genesisHash };
  return { ...unsealed, hash: entryHash(unsealed) };
}

/** Seal several drafts in order, each chain continuing from its own head. */
export function sealAll(drafts: readonly LedgerDraft[], heads: ReadonlyMap<string, ChainHead | null>): LedgerEntry[] {
  const current = new Map(heads);
  return drafts.map((d) => {
    const e = sealEntry(d, current.get(d.chain) ?? null);
    current.set(d.chain, { chain: e.chain, seq: e.seq, hash: e.hash });
    return e;
  });
}

export type ChainFault = 'hash_mismatch' | 'broken_link' | 'sequence_gap' | 'wrong_chain' | 'truncated' | CheckpointFault;

/**
 * Faults of the checkpoint chain (reported on the pseudo-chain `_checkpoints`,
 * `seq` the checkpoint's position) and of coverage: `uncovered` names the
 * first entry that should have been checkpointed by now and was not.
 */
export type CheckpointFault =
  | 'checkpoint_gap'
  | 'checkpoint_link'
  | 'checkpoint_digest'
  | 'checkpoint_signature'
  | 'checkpoint_regressed'
  | 'trust_missing'
  | 'trust_mismatch'
  | 'uncovered';

export interface VerifyProblem {
  readonly chain: string;
  /** The first entry that fails, by position in the chain (1-based). */
  readonly seq: number;
  readonly fault: ChainFault;
}

/**
 * A streaming verifier for long chains: feed entries in order, read the
 * result at the end. Its whole state is the head it has reached, so it can
 * also resume from a head already verified (`from`).
 */
export class ChainVerifier {
  private expectSeq: number;
  private prev: string;
  private problem: VerifyProblem | null = null;

  constructor(
    readonly chain: string,
    from: ChainHead | null = null,
  ) {
    if (from !== null && from.chain !== chain) throw new TypeError('head belongs to another chain');
    this.expectSeq = (from?.seq ?? 0) + 1;
    this.prev = from?.hash ?? genesisHash;
  }

  push(e: LedgerEntry): boolean {
    if (this.problem) return false;
    const fault: ChainFault | null =
      e.chain !== this.chain ? 'wrong_chain'
      : e.seq !== this.expectSeq ? 'sequence_gap'
      : e.prevHash !== this.prev ? 'broken_link'
      : entryHash(e) !== e.hash ? 'hash_mismatch'
      : null;
    if (fault) {
      this.problem = { chain: this.chain, seq: this.expectSeq, fault };
      return false;
    }
    this.prev = e.hash;
    this.expectSeq += 1;
    return true;
  }

  get head(): ChainHead | null {
    return this.expectSeq === 1 ? null : { chain: this.chain, seq: this.expectSeq - 1, hash: this.prev };
  }

  result(): VerifyProblem | null {
    return this.problem;
  }
}

/** Verify one chain, given in stored order: the first bad entry, or null. */
export function verifyChain(chain: string, entries: Iterable<LedgerEntry>): VerifyProblem | null {
  const v = new ChainVerifier(chain);
  for (const e of entries) if (!v.push(e)) break;
  return v.result();
}

/**
 * Compare verified chain heads with a checkpoint: a chain that is now
 * shorter than the checkpoint says, or whose entry at the checkpointed
 * position has another hash, was truncated or rewritten.
 */
export function checkAgainstCheckpoint(
  checkpoint: { readonly heads: readonly ChainHead[] },
  hashAt: (chain: string, seq: number) => string | null,
): VerifyProblem | null {
  for (const h of checkpoint.heads) {
    const actual = hashAt(h.chain, h.seq);
    if (actual === null) return { chain: h.chain, seq: h.seq, fault: 'truncated' };
    if (actual !== h.hash) return { chain: h.chain, seq: h.seq, fault: 'hash_mismatch' };
  }
  return null;
}
