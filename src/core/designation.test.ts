import { describe, expect, it } from 'vitest';
import { checkRenew, createRecord, decideFetch, decidePromote, decidePromotion, decideReimport, decideRelease, type ValidatorRecord } from './designation';
import { KeyholdError } from './errors';
import { horizonMs, type Timing } from './horizon';
import { fingerprint } from './key-material';
import { interchangeOf, randomPubkey, randomRoot, watermarks, type Interchange } from '../../test/support/interchange';

const t: Timing = { grantTtlMs: 60_000, outageToleranceMs: 300_000, maxClockSkewMs: 5_000, commitDeadlineMs: 10_000, commitSendWindowMs: 5_000 };
// Counted from the latest moment the decision can land (D + C), not from D.
const wait = t.commitDeadlineMs + horizonMs(t) + t.maxClockSkewMs;
const s0 = 'eu1/validators/v1-0';
const s1 = 'eu1/validators/v1-standby-0';
const sa = 'keyhold-validator';
const a = { slot: s0, podUid: 'a', serviceAccount: sa };
const a2 = { slot: s0, podUid: 'a2', serviceAccount: sa };
const b = { slot: s1, podUid: 'b', serviceAccount: sa };
const now = 1_000_000;
const pubkey = randomPubkey();
const root = randomRoot();
const fresh = () => createRecord({ id: 'v1', slots: [s0, s1], serviceAccounts: [sa], keyFingerprint: fingerprint(pubkey), keyFormat: 'eip2335', now, genesisValidatorsRoot: root });
const history = (slot: number, source: number, target: number, key = pubkey, r = root): Interchange =>
  interchangeOf(r, [{ pubkey: key, signed_blocks: [{ slot: String(slot) }], signed_attestations: [{ source_epoch: String(source), target_epoch: String(target) }] }]);
const marks = (rec: ValidatorRecord) => watermarks(JSON.parse(rec.slashingProtection!) as Interchange).get(pubkey);

function held(by = a): ValidatorRecord {
  const d = decideFetch(t, fresh(), by, now);
  if (d.kind !== 'issue') throw new Error('expected issue');
  return d.next;
}

describe('createRecord', () => {
  it('designates the first slot, vacant at epoch 1', () => {
    const r = fresh();
    expect(r.designation).toMatchObject({ epoch: 1, slot: s0, podUid: null, state: 'vacant', notBefore: now });
    expect(r.version).toBe(1);
  });
  it('refuses no slots and duplicate slots', () => {
    expect(() => createRecord({ id: 'v', slots: [], serviceAccounts: [sa], keyFingerprint: '', keyFormat: '', now })).toThrow(TypeError);
    expect(() => createRecord({ id: 'v', slots: [s0, s0], serviceAccounts: [sa], keyFingerprint: '', keyFormat: '', now })).toThrow(TypeError);
    expect(() => createRecord({ id: 'v', slots: [s0], serviceAccounts: [], keyFingerprint: '', keyFormat: '', now })).toThrow(TypeError);
  });
});

describe('decideFetch', () => {
  it('issues a vacant designation to the first pod of its slot without raising the epoch', () => {
    const d = decideFetch(t, fresh(), a, now);
    expect(d.kind).toBe('issue');
    if (d.kind !== 'issue') return;
    expect(d.action).toBe('grant_issued');
    expect(d.next.designation).toMatchObject({ epoch: 1, podUid: 'a', state: 'held' });
    expect(d.next.version).toBe(2);
  });

  it('re-issues to the same pod, still with a compare-and-swap on the version', () => {
    const r = held();
    const d = decideFetch(t, r, a, now + 10);
    expect(d).toMatchObject({ kind: 'issue', action: 'grant_reissued' });
    if (d.kind === 'issue') {
      expect(d.next.designation).toEqual(r.designation);
      expect(d.next.version).toBe(r.version + 1);
    }
  });

  it('makes a restarted pod in the same slot wait out the horizon under a new epoch', () => {
    const d = decideFetch(t, held(), a2, now + 10);
    expect(d.kind).toBe('wait');
    if (d.kind !== 'wait') return;
    expect(d.action).toBe('takeover');
    expect(d.notBefore).toBe(now + 10 + wait);
    expect(d.retryAfter).toBe(Math.ceil(wait / 1000));
    expect(d.next?.designation).toMatchObject({ epoch: 2, podUid: 'a2', state: 'held' });
  });

  it('keeps the waiting pod waiting until notBefore, then re-issues', () => {
    const w = decideFetch(t, held(), a2, now);
    if (w.kind !== 'wait' || !w.next) throw new Error('expected takeover');
    expect(decideFetch(t, w.next, a2, w.notBefore - 1)).toMatchObject({ kind: 'wait', action: 'denied', next: null });
    expect(decideFetch(t, w.next, a2, w.notBefore)).toMatchObject({ kind: 'issue', action: 'grant_reissued' });
  });

  it('refuses pods of other slots, allowed or not', () => {
    expect(decideFetch(t, held(), b, now)).toMatchObject({ kind: 'deny', error: { code: 'not_designated' } });
    expect(decideFetch(t, held(), { slot: 'eu1/validators/x-0', podUid: 'x', serviceAccount: sa }, now)).toMatchObject({ kind: 'deny', error: { code: 'not_designated' } });
  });

  it('refuses a pod of the right slot whose service account the policy does not name, also when the slot is free', () => {
    const intruder = { slot: s0, podUid: 'x', serviceAccount: 'default' };
    expect(decideFetch(t, fresh(), intruder, now)).toMatchObject({ kind: 'deny', error: { code: 'service_account_not_allowed' } });
    expect(decideFetch(t, held(), intruder, now)).toMatchObject({ kind: 'deny', error: { code: 'service_account_not_allowed' } });
    // A record from before the policy existed names nobody, so it admits nobody.
    const { serviceAccounts: _, ...legacy } = fresh();
    expect(decideFetch(t, legacy, a, now)).toMatchObject({ kind: 'deny', error: { code: 'service_account_not_allowed' } });
    // A stranger outside every slot learns nothing more than not_designated, whatever its account.
    expect(decideFetch(t, held(), { slot: 'eu1/validators/x-0', podUid: 'x', serviceAccount: 'default' }, now)).toMatchObject({ kind: 'deny', error: { code: 'not_designated' } });
  });

  it('a re-import names the service accounts anew', () => {
    const r = decideReimport(fresh(), [s0, s1], 'fp2', 'eip2335', ['other']);
    if (r instanceof KeyholdError) throw r;
    expect(decideFetch(t, r, a, now)).toMatchObject({ kind: 'deny', error: { code: 'service_account_not_allowed' } });
    expect(decideFetch(t, r, { ...a, serviceAccount: 'other' }, now)).toMatchObject({ kind: 'issue' });
  });

  it('admits the next pod at once after a clean release, with a new epoch', () => {
    const r = held();
    const rel = decideRelease(r, { validator: 'v1', slot: s0, podUid: 'a', epoch: 1 }, a, now + 5, null);
    if (rel.kind !== 'released') throw new Error('expected release');
    const d = decideFetch(t, rel.next, a2, now + 5);
    expect(d).toMatchObject({ kind: 'issue', action: 'grant_issued' });
    if (d.kind === 'issue') expect(d.next.designation).toMatchObject({ epoch: 2, podUid: 'a2' });
  });
});

describe('checkRenew', () => {
  const grant = { validator: 'v1', slot: s0, podUid: 'a', epoch: 1 };
  it('renews exactly the holder', () => {
    expect(checkRenew(held(), grant, a, now)).toBeNull();
  });
  it('refuses a stale epoch, another pod, or a released designation', () => {
    const r = held();
    expect(checkRenew(r, { ...grant, epoch: 0 }, a, now)?.code).toBe('stale_epoch');
    const w = decideFetch(t, r, a2, now);
    if (w.kind !== 'wait' || !w.next) throw new Error();
    expect(checkRenew(w.next, grant, a, now)?.code).toBe('stale_epoch');
    const rel = decideRelease(r, grant, a, now, null);
    if (rel.kind !== 'released') throw new Error();
    expect(checkRenew(rel.next, grant, a, now)?.code).toBe('stale_epoch');
  });
  it('refuses a grant presented by another pod than the one it names', () => {
    expect(checkRenew(held(), grant, a2, now)?.code).toBe('invalid_grant');
  });
});

describe('decideRelease', () => {
  const grant = { validator: 'v1', slot: s0, podUid: 'a', epoch: 1 };
  it('releases the current holder and keeps its interchange, merged, as version 5', () => {
    const d = decideRelease(held(), grant, a, now + 1, history(10, 2, 3));
    expect(d.kind).toBe('released');
    if (d.kind !== 'released') return;
    expect(d.history).toEqual({ status: 'stored' });
    expect(d.next.designation).toMatchObject({ state: 'released', notBefore: now + 1, epoch: 1 });
    expect(marks(d.next)).toEqual({ block: 10n, source: 2n, target: 3n });
    expect(d.next.predecessor).toBe('released');
  });
  it('still releases with a refused interchange, keeps what it held, and calls the stop unproven', () => {
    for (const [bad, code] of [
      [history(10, 2, 3, randomPubkey()), 'interchange_foreign_key'],
      [history(10, 2, 3, pubkey, randomRoot()), 'interchange_genesis_mismatch'],
      [{ metadata: {} }, 'interchange_malformed'],
    ] as const) {
      const d = decideRelease(held(), grant, a, now + 1, bad);
      if (d.kind !== 'released') throw new Error(d.kind);
      expect(d.history).toEqual({ status: 'refused', code });
      expect(d.next.slashingProtection).toBeNull();
      expect(d.next.predecessor).toBe('unproven');
      expect(d.next.designation.state).toBe('released');
    }
    expect(decideRelease(held(), grant, a, now + 1, null)).toMatchObject({ kind: 'released', history: { status: 'none' }, next: { predecessor: 'unproven' } });
  });
  it('is idempotent', () => {
    const d = decideRelease(held(), grant, a, now, null);
    if (d.kind !== 'released') throw new Error();
    expect(decideRelease(d.next, grant, a, now + 1, history(99, 99, 99)).kind).toBe('already_released');
  });
  it('lets the superseded holder move notBefore to now, never later, and keeps its interchange, once', () => {
    const w = decideFetch(t, held(), a2, now);
    if (w.kind !== 'wait' || !w.next) throw new Error();
    expect(w.next.predecessor).toBe('unproven');
    const ack = decideRelease(w.next, grant, a, now + 1000, history(10, 2, 3), 'proven');
    if (ack.kind !== 'fenced_ack') throw new Error(ack.kind);
    expect(ack.next!.designation.notBefore).toBe(now + 1000);
    expect(ack.next!.designation.epoch).toBe(2);
    expect(marks(ack.next!)).toEqual({ block: 10n, source: 2n, target: 3n });
    expect(ack.next!.predecessor).toBe('acknowledged');
    // Its word counts once: a second one writes nothing.
    expect(decideRelease(ack.next!, grant, a, now + 2000, history(50, 50, 50), 'proven')).toEqual({ kind: 'already_acknowledged' });
    // After the horizon it may still hand its history over; notBefore stays.
    const late = decideRelease(w.next, grant, a, w.notBefore + 1, history(10, 2, 3), 'proven');
    if (late.kind !== 'fenced_ack') throw new Error(late.kind);
    expect(late.next!.designation).toEqual(w.next.designation);
    expect(late.next!.predecessor).toBe('acknowledged');
  });
  it('an acknowledgement without a kept history still moves notBefore, and leaves the stop unproven', () => {
    const w = decideFetch(t, held(), a2, now);
    if (w.kind !== 'wait' || !w.next) throw new Error();
    const ack = decideRelease(w.next, grant, a, now + 1000, history(10, 2, 3, pubkey, randomRoot()), 'proven');
    if (ack.kind !== 'fenced_ack') throw new Error(ack.kind);
    expect(ack.history).toEqual({ status: 'refused', code: 'interchange_genesis_mismatch' });
    expect(ack.next!.designation.notBefore).toBe(now + 1000);
    expect(ack.next!.predecessor).toBe('unproven');
    expect(ack.next!.slashingProtection).toBeNull();
  });
  it('keeps a released successor as the predecessor when the fenced one acknowledges later, and merges its history', () => {
    const p = decidePromote(t, held(), s1, now);
    if (p instanceof KeyholdError) throw p;
    const got = decideFetch(t, p, b, p.designation.notBefore);
    if (got.kind !== 'issue') throw new Error(got.kind);
    const rel = decideRelease(got.next, { validator: 'v1', slot: s1, podUid: 'b', epoch: 2 }, b, p.designation.notBefore + 1, history(20, 5, 6));
    if (rel.kind !== 'released') throw new Error(rel.kind);
    const ack = decideRelease(rel.next, grant, a, p.designation.notBefore + 2, history(30, 1, 9), 'proven');
    if (ack.kind !== 'fenced_ack') throw new Error(ack.kind);
    expect(ack.next!.predecessor).toBe('released');
    expect(marks(ack.next!)).toEqual({ block: 30n, source: 5n, target: 9n });
    // Neither speaks twice.
    expect(decideRelease(ack.next!, grant, a, p.designation.notBefore + 3, null, 'proven').kind).toBe('already_acknowledged');
    expect(decideRelease(ack.next!, { validator: 'v1', slot: s1, podUid: 'b', epoch: 2 }, b, p.designation.notBefore + 3, null).kind).toBe('already_released');
  });
  it('tells each new holder how the one before it ended', () => {
    const first = decideFetch(t, fresh(), a, now);
    expect(first.kind === 'issue' && first.next.predecessor).toBe('none');
    const rel = decideRelease(held(), grant, a, now, history(1, 1, 1));
    if (rel.kind !== 'released') throw new Error();
    const next = decideFetch(t, rel.next, a2, now);
    expect(next.kind === 'issue' && next.next.predecessor).toBe('released');
    const promoted = decidePromote(t, held(), s1, now);
    expect(promoted instanceof KeyholdError ? null : promoted.predecessor).toBe('unproven');
    const cleanPromotion = decidePromote(t, rel.next, s1, now);
    expect(cleanPromotion instanceof KeyholdError ? null : cleanPromotion.predecessor).toBe('released');
  });
  it('takes an acknowledgement without evidence of the stop as no reason to shorten the wait, yet keeps its history', () => {
    const w = decideFetch(t, held(), a2, now);
    if (w.kind !== 'wait' || !w.next) throw new Error();
    expect(decideRelease(w.next, grant, a, now + 1000, null, 'unproven')).toEqual({ kind: 'fenced_ack', next: null, stop: 'unproven', history: { status: 'none' } });
    expect(decideRelease(w.next, grant, a, now + 1000, null)).toEqual({ kind: 'fenced_ack', next: null, stop: 'unproven', history: { status: 'none' } });
    const kept = decideRelease(w.next, grant, a, now + 1000, history(10, 2, 3));
    if (kept.kind !== 'fenced_ack' || !kept.next) throw new Error(kept.kind);
    expect(kept.next.designation).toEqual(w.next.designation);
    expect(kept.next.predecessor).toBe('unproven');
    expect(marks(kept.next)).toEqual({ block: 10n, source: 2n, target: 3n });
  });
  it('ignores acknowledgements of epochs older than the one superseded', () => {
    const w = decideFetch(t, held(), a2, now);
    if (w.kind !== 'wait' || !w.next) throw new Error();
    const p = decidePromote(t, w.next, s1, now + 1);
    if (p instanceof KeyholdError) throw p;
    expect(decideRelease(p, grant, a, now + 2, null)).toMatchObject({ kind: 'deny', error: { code: 'stale_epoch' } });
  });
  it('refuses a grant presented by another pod', () => {
    expect(decideRelease(held(), grant, a2, now, null)).toMatchObject({ kind: 'deny', error: { code: 'invalid_grant' } });
  });
});

describe('decidePromote', () => {
  it('fences a holder: new epoch, vacant target, notBefore after the horizon', () => {
    const p = decidePromote(t, held(), s1, now + 7);
    if (p instanceof KeyholdError) throw p;
    expect(p.designation).toEqual({ epoch: 2, slot: s1, podUid: null, state: 'vacant', notBefore: now + 7 + wait, updatedAt: now + 7 });
  });
  it('is immediate from a clean release or a vacant designation', () => {
    const p = decidePromote(t, fresh(), s1, now + 7);
    if (p instanceof KeyholdError) throw p;
    expect(p.designation.notBefore).toBe(now + 7);
  });
  it('never brings forward a notBefore set by an earlier unclean promotion', () => {
    const p1 = decidePromote(t, held(), s1, now);
    if (p1 instanceof KeyholdError) throw p1;
    const p2 = decidePromote(t, p1, s0, now + 1);
    if (p2 instanceof KeyholdError) throw p2;
    expect(p2.designation.notBefore).toBe(p1.designation.notBefore);
    expect(p2.designation.epoch).toBe(3);
  });
  it('refuses a slot the validator may not run in', () => {
    expect(decidePromote(t, held(), 'eu1/validators/other-0', now)).toMatchObject({ code: 'slot_not_allowed' });
  });
});

describe('decideReimport', () => {
  it('keeps the designation and requires the same slots', () => {
    const r = held();
    const next = decideReimport(r, [s0, s1], 'fp2', 'eip2335');
    if (next instanceof KeyholdError) throw next;
    expect(next.designation).toEqual(r.designation);
    expect(next.keyFingerprint).toBe('fp2');
    expect(decideReimport(r, [s1, s0], 'fp', 'eip2335')).toMatchObject({ code: 'validator_exists' });
  });
  it('records a genesis validators root where none was, and never changes one', () => {
    const none = { ...held(), genesisValidatorsRoot: null };
    const set = decideReimport(none, [s0, s1], 'fp', 'eip2335', [sa], root);
    if (set instanceof KeyholdError) throw set;
    expect(set.genesisValidatorsRoot).toBe(root);
    expect(decideReimport(set, [s0, s1], 'fp', 'eip2335', [sa], randomRoot())).toMatchObject({ code: 'genesis_validators_root_mismatch' });
    const kept = decideReimport(set, [s0, s1], 'fp', 'eip2335');
    expect(kept instanceof KeyholdError ? null : kept.genesisValidatorsRoot).toBe(root);
  });
});

describe('decidePromotion with two approvers', () => {
  const req = (operator: string, principals: string[] = [`jwk:${operator}`]) => ({ operator, principals, reason: 'drain', approvals: 2 as const, proposalTtlMs: 60_000 });
  it('proposes first, then promotes when a different operator names the same target', () => {
    const first = decidePromotion(t, held(), s1, req('operator:alice'), now);
    expect(first.kind).toBe('proposed');
    if (first.kind !== 'proposed') return;
    expect(first.next.designation).toEqual(held().designation);
    expect(decidePromotion(t, first.next, s1, req('operator:alice'), now + 1)).toMatchObject({ kind: 'deny', error: { code: 'second_approver_required' } });
    const second = decidePromotion(t, first.next, s1, req('operator:bob'), now + 2);
    expect(second).toMatchObject({ kind: 'promoted', approvers: ['operator:alice', 'operator:bob'] });
    if (second.kind === 'promoted') {
      expect(second.next.designation).toMatchObject({ epoch: 2, slot: s1, state: 'vacant' });
      expect(second.next.pendingPromotion).toBeNull();
    }
  });
  it('voids a proposal when it expires, when the epoch moves, or for another target', () => {
    const first = decidePromotion(t, held(), s1, req('operator:alice'), now);
    if (first.kind !== 'proposed') throw new Error();
    expect(decidePromotion(t, first.next, s1, req('operator:bob'), now + 60_000).kind).toBe('proposed');
    expect(decidePromotion(t, first.next, s0, req('operator:bob'), now + 1).kind).toBe('proposed');
    const taken = decideFetch(t, first.next, a2, now + 1);
    if (taken.kind !== 'wait' || !taken.next) throw new Error();
    expect(decidePromotion(t, taken.next, s1, req('operator:bob'), now + 2).kind).toBe('proposed');
  });
  it('counts one key under two names, or a key and the OIDC login of its owner, as one approver', () => {
    const first = decidePromotion(t, held(), s1, req('operator:alice', ['jwk:K1', 'oidc:u-1']), now);
    if (first.kind !== 'proposed') throw new Error();
    expect(first.next.pendingPromotion?.proposerPrincipals).toEqual(['jwk:K1', 'oidc:u-1']);
    expect(decidePromotion(t, first.next, s1, req('operator:alias', ['jwk:K1']), now + 1)).toMatchObject({ kind: 'deny', error: { code: 'second_approver_required' } });
    expect(decidePromotion(t, first.next, s1, req('oidc:u-1', ['oidc:u-1']), now + 1)).toMatchObject({ kind: 'deny', error: { code: 'second_approver_required' } });
    expect(decidePromotion(t, first.next, s1, req('operator:bob', ['jwk:K2', 'oidc:u-2']), now + 1)).toMatchObject({ kind: 'promoted', approvers: ['operator:alice', 'operator:bob'] });
  });
  it('compares names alone on a proposal stored without principals', () => {
    const first = decidePromotion(t, held(), s1, req('operator:alice'), now);
    if (first.kind !== 'proposed') throw new Error();
    const { proposerPrincipals: _, ...legacy } = first.next.pendingPromotion!;
    const old = { ...first.next, pendingPromotion: legacy };
    expect(decidePromotion(t, old, s1, req('operator:alice', ['jwk:other']), now + 1).kind).toBe('deny');
    expect(decidePromotion(t, old, s1, req('operator:bob', ['jwk:operator:alice']), now + 1).kind).toBe('promoted');
  });
  it('promotes at once with one approver', () => {
    expect(decidePromotion(t, held(), s1, { ...req('operator:alice'), approvals: 1 }, now)).toMatchObject({ kind: 'promoted', approvers: ['operator:alice'] });
  });
});
