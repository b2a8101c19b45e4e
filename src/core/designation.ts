// The designation state machine: which single pod instance may hold a
// validator key. Every function here is pure; time comes in as `now`, and the
// result is a decision the broker then commits with compare-and-swap.

import { KeyholdError } from './errors';
import { retryAfterSeconds, takeoverNotBefore, type Timing } from './horizon';

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
  /** The EIP-3076 interchange the last holder left for the next one, as JSON text. */
  readonly slashingProtection: string | null;
  /** Fingerprint of the key material's public identifier (never of the secret). */
  readonly keyFingerprint: string;
  readonly keyFormat: string;
  readonly version: number;
  /** A promotion waiting for its second approver; void once the epoch moves. */
  readonly pendingPromotion?: PendingPromotion | null;
}

export interface PendingPromotion {
  readonly slot: string;
  /** The epoch the proposal was made at: any change of holder voids it. */
  readonly fromEpoch: number;
  readonly proposer: string;
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
    const next = bump(r, { epoch: d.epoch + 1, slot: d.slot, podUid: caller.podUid, state: 'held', notBefore, updatedAt: now });
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

/**
 * What the holder's keeper can show about its signer: `proven` when it saw
 * the signer exit (or the signer's container is gone), `unproven` otherwise
 * (it found no signer process, but could not have seen one).
 */
export type StopEvidence = 'proven' | 'unproven';

export type ReleaseDecision =
  | { kind: 'released'; next: ValidatorRecord }
  | { kind: 'already_released' }
  | { kind: 'fenced_ack'; next: ValidatorRecord | null; stop: StopEvidence }
  | { kind: 'deny'; error: KeyholdError };

/**
 * Release by the current holder, or the acknowledgement of a holder that was
 * fenced by the latest takeover or promotion: one epoch names one pod
 * instance, so its word that it stopped is as good as a release, when it has
 * evidence. Without evidence the acknowledgement is recorded and changes
 * nothing: the successor waits out the horizon.
 */
export function decideRelease(
  r: ValidatorRecord,
  grant: GrantClaims,
  caller: Caller,
  now: number,
  slashingProtection: string | null,
  stop: StopEvidence = 'unproven',
): ReleaseDecision {
  const d = r.designation;
  if (grant.podUid !== caller.podUid || grant.slot !== caller.slot) return { kind: 'deny', error: new KeyholdError('invalid_grant') };
  if (grant.epoch === d.epoch && grant.podUid === d.podUid) {
    if (d.state === 'released') return { kind: 'already_released' };
    if (d.state !== 'held') return { kind: 'deny', error: new KeyholdError('stale_epoch') };
    const next = bump(
      r,
      { ...d, state: 'released', notBefore: now, updatedAt: now },
      slashingProtection === null ? {} : { slashingProtection },
    );
    return { kind: 'released', next };
  }
  if (grant.epoch === d.epoch - 1) {
    // The superseded instance's own word that it stopped. It never moves
    // notBefore later, and never touches a designation it was not fenced by.
    // Its interchange, if any, is not kept: only the current epoch writes.
    if (stop !== 'proven' || d.notBefore <= now) return { kind: 'fenced_ack', next: null, stop };
    return { kind: 'fenced_ack', next: bump(r, { ...d, notBefore: now, updatedAt: now }), stop };
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
  return bump(r, { epoch: d.epoch + 1, slot: target, podUid: null, state: 'vacant', notBefore, updatedAt: now }, { pendingPromotion: null });
}

export type PromotionDecision =
  | { kind: 'proposed'; next: ValidatorRecord }
  | { kind: 'promoted'; next: ValidatorRecord; approvers: readonly string[] }
  | { kind: 'deny'; error: KeyholdError };

/**
 * Promotion by one operator, or by two distinct ones: the first proposes a
 * target at the current epoch, the second, naming the same target before the
 * proposal expires and before the epoch moves, carries it out.
 */
export function decidePromotion(
  t: Timing,
  r: ValidatorRecord,
  target: string,
  request: { operator: string; reason: string; approvals: 1 | 2; proposalTtlMs: number },
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
    const pendingPromotion: PendingPromotion = { slot: target, fromEpoch: r.designation.epoch, proposer: request.operator, reason: request.reason, expiresAt: now + request.proposalTtlMs };
    return { kind: 'proposed', next: { ...r, pendingPromotion, version: r.version + 1 } };
  }
  if (standing.proposer === request.operator) return { kind: 'deny', error: new KeyholdError('second_approver_required') };
  return promote([standing.proposer, request.operator]);
}

/** Re-import of an existing validator: new key material, the same slots, and the service accounts it names now. */
export function decideReimport(r: ValidatorRecord, slots: readonly string[], keyFingerprint: string, keyFormat: string, serviceAccounts: readonly string[] = r.serviceAccounts ?? []): ValidatorRecord | KeyholdError {
  const sameSlots = slots.length === r.slots.length && slots.every((s, i) => s === r.slots[i]);
  if (!sameSlots) return new KeyholdError('validator_exists');
  return { ...r, keyFingerprint, keyFormat, serviceAccounts: [...serviceAccounts], version: r.version + 1 };
}
