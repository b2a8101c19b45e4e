// The designation state machine: which single pod instance may hold a
// validator key. Every function here is pure; time comes in as `now`, and the
// result is a decision the broker then commits with compare-and-swap.

import { KeyholdError } from './errors';
import { retryAfterSeconds, takeoverNotBefore, type Timing } from './horizon';
import { fingerprint } from './key-material';
import { mergeInterchange, readInterchange, type InterchangeProblem } from './slashing-protection';

export type DesignationState = 'vacant' | 'held' | 'released';

export interface Designation {
  /** The fencing token: grows on every change of pod instance. */
  readonly epoch: number;
  readonly slot: string;
  readonly podUid: string | null;
  readonly state: DesignationState;
  /** No grant is issued before this time (ms). */
  readonly notBefore: number;
  readonly updatedAt: number;
}

/** Everything the state store keeps for one validator; `version` is its CAS token. */
export interface ValidatorRecord {
  readonly id: string;
  /** Allowed slots; the first is where the validator was designated at import. */
  readonly slots: readonly string[];
  /**
   * Service accounts (names, in the slot's namespace) whose pods may hold the
   * key. A record stored before this policy existed has none, and so admits
   * nobody until it is imported again with them.
   */
  readonly serviceAccounts?: readonly string[];
  readonly designation: Designation;
  /** The merged EIP-3076 interchange of every holder so far (invariant 7), as version 5 JSON text. */
  readonly slashingProtection: string | null;
  /** The chain's genesis validators root (0x + 64 hex) recorded at import; interchanges of another chain are refused. */
  readonly genesisValidatorsRoot?: string | null;
  /** What the next grant tells its holder about how the holder before it ended; absent in older records: `unproven`. */
  readonly predecessor?: Predecessor;
  /**
   * The epochs, of the current one and the one it superseded, whose holder has
   * had its final word (release or fenced acknowledgement): it has it once.
   */
  readonly stoppedEpochs?: readonly number[];
  /** Fingerprint of the key material's public identifier (never of the secret). */
  readonly keyFingerprint: string;
  readonly keyFormat: string;
  readonly version: number;
  /** A promotion waiting for its second approver; void once the epoch moves. */
  readonly pendingPromotion?: PendingPromotion | null;
}

/**
 * How the previous holder ended, as a new holder is told: `none` (there was
 * none), `released` or `acknowledged` (it stopped and handed back a history
 * the broker kept), `unproven` (crash, expiry, takeover, or a stop without a
 * history the broker could keep), so the pod can ask its client for
 * doppelganger detection.
 */
export type Predecessor = 'none' | 'released' | 'acknowledged' | 'unproven';

export const predecessorOf = (r: ValidatorRecord): Predecessor => r.predecessor ?? 'unproven';

export interface PendingPromotion {
  readonly slot: string;
  /** The epoch the proposal was made at: any change of holder voids it. */
  readonly fromEpoch: number;
  readonly proposer: string;
  /**
   * Who is behind the proposer's credential (key thumbprints, OIDC
   * subjects): an approval sharing any of them is the proposer's own.
   * Absent on proposals stored before it existed: the name alone counts.
   */
  readonly proposerPrincipals?: readonly string[];
  readonly reason: string;
  readonly expiresAt: number;
}

export interface Caller {
  readonly slot: string;
  readonly podUid: string;
}

/** Who asks for a grant: the pod instance and the service account its token names. */
export interface FetchCaller extends Caller {
  readonly serviceAccount: string;
}

/** A grant as the broker signed it; only the fields that fence matter here. */
export interface GrantClaims {
  readonly validator: string;
  readonly slot: string;
  readonly podUid: string;
  readonly epoch: number;
}

export type Action =
  | 'grant_issued'
  | 'grant_reissued'
  | 'takeover'
  | 'denied'
  | 'released'
  | 'fenced_ack'
  | 'promoted'
  | 'promotion_proposed'
  | 'key_imported'
  | 'key_rotated'
  | 'store_fallback'
  | 'cache_served'
  | 'renew_refused'
  | 'refusals_repeated'
  | 'checkpoint';

/** The outcome of a decision: an optional new record and what to write down. */
export type FetchDecision =
  /** `next` is always written with compare-and-swap, even when only the version moves: an issue must not race a release. */
  | { kind: 'issue'; next: ValidatorRecord; action: 'grant_issued' | 'grant_reissued' }
  | { kind: 'wait'; next: ValidatorRecord | null; action: 'takeover' | 'denied'; notBefore: number; retryAfter: number }
  | { kind: 'deny'; error: KeyholdError };

const bump = (r: ValidatorRecord, designation: Designation, extra: Partial<ValidatorRecord> = {}): ValidatorRecord => ({
  ...r,
  ...extra,
  designation,
  version: r.version + 1,
});

/** A new validator: designated at its first slot, vacant, epoch 1, admissible at once. */
export function createRecord(input: {
  id: string;
  slots: readonly string[];
  serviceAccounts: readonly string[];
  keyFingerprint: string;
  keyFormat: string;
  now: number;
  genesisValidatorsRoot?: string | null;
}): ValidatorRecord {
  const first = input.slots[0];
  if (first === undefined) throw new TypeError('a validator needs at least one slot');
  if (new Set(input.slots).size !== input.slots.length) throw new TypeError('slots must be distinct');
  if (input.serviceAccounts.length === 0) throw new TypeError('a validator needs at least one service account');
  return {
    id: input.id,
    slots: [...input.slots],
    serviceAccounts: [...input.serviceAccounts],
    designation: { epoch: 1, slot: first, podUid: null, state: 'vacant', notBefore: input.now, updatedAt: input.now },
    slashingProtection: null,
    keyFingerprint: input.keyFingerprint,
    keyFormat: input.keyFormat,
    version: 1,
    genesisValidatorsRoot: input.genesisValidatorsRoot ?? null,
    predecessor: 'none',
    stoppedEpochs: [],
  };
}

/** Fetch flow of DESIGN.md: who gets a grant, who waits, who is refused. */
export function decideFetch(t: Timing, r: ValidatorRecord, caller: FetchCaller, now: number): FetchDecision {
  const d = r.designation;
  // Not in any slot: the same answer as an unknown validator (the broker
  // decides that one), so a stranger learns nothing about which ids exist.
  if (!r.slots.includes(caller.slot)) return { kind: 'deny', error: new KeyholdError('not_designated') };
  // The right namespace and pod name are not enough: anyone who may create
  // pods there could name one after the slot.
  if (!(r.serviceAccounts ?? []).includes(caller.serviceAccount)) return { kind: 'deny', error: new KeyholdError('service_account_not_allowed') };
  if (caller.slot !== d.slot) return { kind: 'deny', error: new KeyholdError('not_designated') };
  const waitUntil = (notBefore: number, next: ValidatorRecord | null, action: 'takeover' | 'denied'): FetchDecision => ({
    kind: 'wait',
    next,
    action,
    notBefore,
    retryAfter: retryAfterSeconds(now, notBefore),
  });

  if (d.state === 'held' && d.podUid === caller.podUid) {
    if (now < d.notBefore) return waitUntil(d.notBefore, null, 'denied');
    return { kind: 'issue', next: bump(r, d), action: 'grant_reissued' };
  }
  if (d.state === 'held') {
    // A restart in the same slot: the old instance may still hold a grant,
    // so the new one waits out the horizon under a new epoch.
    const notBefore = takeoverNotBefore(t, now, false);
    const next = bump(r, { epoch: d.epoch + 1, slot: d.slot, podUid: caller.podUid, state: 'held', notBefore, updatedAt: now }, { predecessor: 'unproven' });
    return waitUntil(notBefore, next, 'takeover');
  }
  if (now < d.notBefore) return waitUntil(d.notBefore, null, 'denied');
  // Vacant: no instance ever held this epoch, so the caller may take it as it
  // is. Released: the epoch named the instance that let go; a new one needs a
  // new epoch.
  const epoch = d.state === 'released' ? d.epoch + 1 : d.epoch;
  const next = bump(r, { epoch, slot: d.slot, podUid: caller.podUid, state: 'held', notBefore: d.notBefore, updatedAt: now });
  return { kind: 'issue', next, action: 'grant_issued' };
}

/** A renewal is allowed only for the exact holder: same epoch, pod instance and slot. */
export function checkRenew(r: ValidatorRecord, grant: GrantClaims, caller: Caller, now: number): KeyholdError | null {
  const d = r.designation;
  if (grant.podUid !== caller.podUid || grant.slot !== caller.slot) return new KeyholdError('invalid_grant');
  if (d.state !== 'held' || d.epoch !== grant.epoch || d.podUid !== grant.podUid || d.slot !== grant.slot) {
    return new KeyholdError('stale_epoch');
  }
  if (now < d.notBefore) return new KeyholdError('stale_epoch');
  return null;
}

/** What became of the interchange a stopping holder handed back. */
export interface HistoryIntake {
  readonly status: 'stored' | 'refused' | 'none';
  /** Why it was refused. */
  readonly code?: InterchangeProblem;
}

/**
 * What the holder's keeper can show about its signer: `proven` when it saw
 * the signer exit (or the signer's container is gone), `unproven` otherwise
 * (it found no signer process, but could not have seen one).
 */
export type StopEvidence = 'proven' | 'unproven';

export type ReleaseDecision =
  | { kind: 'released'; next: ValidatorRecord; history: HistoryIntake }
  | { kind: 'already_released' }
  | { kind: 'fenced_ack'; next: ValidatorRecord | null; stop: StopEvidence; history: HistoryIntake }
  | { kind: 'already_acknowledged' }
  | { kind: 'deny'; error: KeyholdError };

/** Only the current epoch and the one it superseded can still speak: older ones are refused as stale anyway. */
const stopped = (r: ValidatorRecord, epoch: number): number[] => [...(r.stoppedEpochs ?? []).filter((e) => e >= r.designation.epoch - 1 && e !== epoch), epoch].sort((a, b) => a - b);

/** This validator's key, in either spelling its fingerprint may have been taken of. */
const ownKey = (r: ValidatorRecord) => (pubkey: string): boolean => fingerprint(pubkey) === r.keyFingerprint || fingerprint(pubkey.slice(2)) === r.keyFingerprint;

/**
 * Check a handed-back interchange (invariant 7) and merge it with the one
 * held. A refused one changes nothing: the stop itself still counts, but the
 * next holder is told the history is `unproven`.
 */
export function takeHistory(r: ValidatorRecord, interchange: unknown): { intake: HistoryIntake; slashingProtection: string | null } {
  if (interchange === null || interchange === undefined) return { intake: { status: 'none' }, slashingProtection: r.slashingProtection };
  const read = readInterchange(interchange, { genesisValidatorsRoot: r.genesisValidatorsRoot ?? null, isOwnKey: ownKey(r) });
  if (!read.ok) return { intake: { status: 'refused', code: read.code }, slashingProtection: r.slashingProtection };
  return { intake: { status: 'stored' }, slashingProtection: mergeInterchange(r.slashingProtection, read.history) };
}

/**
 * Release by the current holder, or the acknowledgement of a holder that was
 * fenced by the latest takeover or promotion: one epoch names one pod
 * instance, so its word that it stopped is as good as a release, when it has
 * evidence. Without evidence the acknowledgement shortens no wait and leaves
 * the stop `unproven`. Either carries the holder's EIP-3076 interchange (a
 * parsed JSON value, or null).
 */
export function decideRelease(r: ValidatorRecord, grant: GrantClaims, caller: Caller, now: number, interchange: unknown, stop: StopEvidence = 'unproven'): ReleaseDecision {
  const d = r.designation;
  if (grant.podUid !== caller.podUid || grant.slot !== caller.slot) return { kind: 'deny', error: new KeyholdError('invalid_grant') };
  if (grant.epoch === d.epoch && grant.podUid === d.podUid) {
    if (d.state === 'released') return { kind: 'already_released' };
    if (d.state !== 'held') return { kind: 'deny', error: new KeyholdError('stale_epoch') };
    const { intake, slashingProtection } = takeHistory(r, interchange);
    const next = bump(
      r,
      { ...d, state: 'released', notBefore: now, updatedAt: now },
      { slashingProtection, predecessor: intake.status === 'stored' ? 'released' : 'unproven', stoppedEpochs: stopped(r, d.epoch) },
    );
    return { kind: 'released', next, history: intake };
  }
  if (grant.epoch === d.epoch - 1) {
    // The superseded instance's own word that it stopped. It never moves
    // notBefore later, never touches a designation it was not fenced by, and
    // writes nothing but this: notBefore (with evidence only), its history
    // (which can only raise watermarks), and, once proven, that it spoke.
    if (r.stoppedEpochs?.includes(grant.epoch)) return { kind: 'already_acknowledged' };
    const proven = stop === 'proven';
    const { intake, slashingProtection } = takeHistory(r, interchange);
    const designation = !proven || d.notBefore <= now ? d : { ...d, notBefore: now, updatedAt: now };
    // Once the successor itself released, the next holder's predecessor is that successor, not this one.
    const predecessor = d.state === 'released' ? r.predecessor : proven && intake.status === 'stored' ? 'acknowledged' : predecessorOf(r);
    if (!proven && slashingProtection === r.slashingProtection) return { kind: 'fenced_ack', next: null, stop, history: intake };
    const next = bump(r, designation, { slashingProtection, predecessor, ...(proven ? { stoppedEpochs: stopped(r, grant.epoch) } : {}) });
    return { kind: 'fenced_ack', next, stop, history: intake };
  }
  return { kind: 'deny', error: new KeyholdError('stale_epoch') };
}

/** Operator promotion to another allowed slot (or the same one, to fence a stuck pod). */
export function decidePromote(t: Timing, r: ValidatorRecord, target: string, now: number): ValidatorRecord | KeyholdError {
  if (!r.slots.includes(target)) return new KeyholdError('slot_not_allowed');
  const d = r.designation;
  // Nobody can hold a grant for a vacant or cleanly released designation.
  const clean = d.state === 'vacant' || d.state === 'released';
  const notBefore = Math.max(takeoverNotBefore(t, now, clean), clean ? d.notBefore : 0);
  return bump(r, { epoch: d.epoch + 1, slot: target, podUid: null, state: 'vacant', notBefore, updatedAt: now }, { pendingPromotion: null, ...(clean ? {} : { predecessor: 'unproven' as const }) });
}

export type PromotionDecision =
  | { kind: 'proposed'; next: ValidatorRecord }
  | { kind: 'promoted'; next: ValidatorRecord; approvers: readonly string[] }
  | { kind: 'deny'; error: KeyholdError };

/**
 * Promotion by one operator, or by two distinct ones: the first proposes a
 * target at the current epoch, the second, naming the same target before the
 * proposal expires and before the epoch moves, carries it out. Distinct means
 * another name and no principal in common: one key listed under two names,
 * or one person's key and their OIDC login, is one approver.
 */
export function decidePromotion(
  t: Timing,
  r: ValidatorRecord,
  target: string,
  request: { operator: string; principals: readonly string[]; reason: string; approvals: 1 | 2; proposalTtlMs: number },
  now: number,
): PromotionDecision {
  if (!r.slots.includes(target)) return { kind: 'deny', error: new KeyholdError('slot_not_allowed') };
  const promote = (approvers: readonly string[]): PromotionDecision => {
    const next = decidePromote(t, r, target, now);
    return next instanceof KeyholdError ? { kind: 'deny', error: next } : { kind: 'promoted', next, approvers };
  };
  if (request.approvals === 1) return promote([request.operator]);
  const p = r.pendingPromotion;
  const standing = p && p.slot === target && p.fromEpoch === r.designation.epoch && p.expiresAt > now ? p : null;
  if (!standing) {
    const pendingPromotion: PendingPromotion = {
      slot: target,
      fromEpoch: r.designation.epoch,
      proposer: request.operator,
      proposerPrincipals: [...request.principals],
      reason: request.reason,
      expiresAt: now + request.proposalTtlMs,
    };
    return { kind: 'proposed', next: { ...r, pendingPromotion, version: r.version + 1 } };
  }
  const shared = (standing.proposerPrincipals ?? []).some((p) => request.principals.includes(p));
  if (standing.proposer === request.operator || shared) return { kind: 'deny', error: new KeyholdError('second_approver_required') };
  return promote([standing.proposer, request.operator]);
}

/**
 * Re-import of an existing validator: new key material, the same slots, and
 * the service accounts it names now. A genesis validators root may be
 * recorded where none was, never changed: the history held was checked
 * against it.
 */
export function decideReimport(
  r: ValidatorRecord,
  slots: readonly string[],
  keyFingerprint: string,
  keyFormat: string,
  serviceAccounts: readonly string[] = r.serviceAccounts ?? [],
  genesisValidatorsRoot: string | null = null,
): ValidatorRecord | KeyholdError {
  const sameSlots = slots.length === r.slots.length && slots.every((s, i) => s === r.slots[i]);
  if (!sameSlots) return new KeyholdError('validator_exists');
  const held = r.genesisValidatorsRoot ?? null;
  if (genesisValidatorsRoot !== null && held !== null && genesisValidatorsRoot !== held) return new KeyholdError('genesis_validators_root_mismatch');
  return { ...r, keyFingerprint, keyFormat, serviceAccounts: [...serviceAccounts], genesisValidatorsRoot: held ?? genesisValidatorsRoot, version: r.version + 1 };
}
