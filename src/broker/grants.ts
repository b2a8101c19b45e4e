// The pod-facing flows of DESIGN.md: fetch, renew, release. Each one
// authenticates first, decides with the pure core, writes the decision down
// before answering, and only then signs or encrypts anything for the caller.

import { checkRenew, decideFetch, decideRelease, predecessorOf, type GrantClaims, type Predecessor, type StopEvidence } from '../core/designation';
import { KeyholdError } from '../core/errors';
import type { InterchangeProblem } from '../core/slashing-protection';
import { grantExpiry, type Timing } from '../core/horizon';
import type { LedgerDraft } from '../core/ledger';
import { encryptKeyForPod, importEphemeralKey, type EphemeralKey } from '../grants/key-delivery';
import type { GrantSigner, IssuedGrant } from '../grants/signer';
import type { PodIdentity } from '../identity/pod-token';
import type { Clock, StateStore } from '../ports';
import { commitOrThrow, draft, withCasRetry, type CommitWindow } from './decisions';
import type { DesignationRead, DesignationReader, RenewalRead } from './designation-reader';
import type { DesignationWatch } from './designation-watch';
import { KeyReadError, type KeyRead, type KeyReader } from './key-reader';
import type { RefusalLedger } from './refusals';
import { LastGrants } from './last-grants';

export interface GrantServiceDeps {
  readonly state: StateStore;
  readonly designations: DesignationReader;
  readonly keys: KeyReader;
  readonly signer: GrantSigner;
  readonly clock: Clock;
  readonly timing: Timing;
  /** Metrics; never given secrets. */
  readonly observe?: { keyRead(read: KeyRead): void };
  /** When set, a pod's identical refusals are ledgered once, then counted. */
  readonly refusals?: RefusalLedger;
  /** When set, a fetch that asks to wait is held until its designation changes (designation-watch.ts). */
  readonly watch?: DesignationWatch;
  /** Longest wait a fetch may ask for, ms. */
  readonly maxWaitMs?: number;
  /** Retry-After on not_designated, seconds: how often a standby needs to ask again. */
  readonly standbyRetryAfter?: number;
}

export interface FetchResult {
  readonly grant: IssuedGrant;
  readonly key: string;
  /** How the holder before this one ended (invariant 7). */
  readonly predecessor: Predecessor;
}

/** A presented grant that verified, and when: the time its renewal is decided and signed at. */
export interface PresentedRenewal {
  readonly claims: GrantClaims;
  readonly now: number;
}

export interface RenewResult {
  readonly grant: IssuedGrant;
}

export interface ReleaseResult {
  readonly outcome: 'released' | 'already_released' | 'acknowledged' | 'already_acknowledged';
  readonly epoch: number;
  /** What became of the interchange: kept (merged), refused (with `slashingProtectionCode`), or none given or none taken. */
  readonly slashingProtection: 'stored' | 'refused' | 'none';
  readonly slashingProtectionCode?: InterchangeProblem;
  /** For an acknowledgement: whether it moved notBefore (proven) or the successor waits out the horizon (unproven). */
  readonly stop?: StopEvidence;
}

const actorOf = (pod: PodIdentity): string => `pod:${pod.podUid}`;

export class GrantService {
  /** What this instance issued and renewed last, per validator (for status; never for a decision). */
  readonly lastGrants = new LastGrants();

  constructor(private readonly d: GrantServiceDeps) {}

  /**
   * `waitMs`: when the answer would be 425 not_before, hold the request up to
   * this long (capped by maxWaitMs) and decide again as soon as the
   * designation changes or notBefore comes. Every attempt is a whole fetch:
   * a fresh read, and a commit before any grant.
   */
  async fetch(pod: PodIdentity, validator: string, ephemeral: EphemeralKey, waitMs = 0): Promise<FetchResult> {
    const recipient = await importEphemeralKey(ephemeral).catch(() => {
      throw new KeyholdError('invalid_request');
    });
    const watch = this.d.watch;
    // The wait is a budget of elapsed time, not a decision: decisions use the clock.
    const started = performance.now();
    const budget = Math.min(waitMs, this.d.maxWaitMs ?? 0);
    for (;;) {
      const seen = { version: -1, notBefore: 0 };
      try {
        return await this.fetchOnce(pod, validator, recipient, seen);
      } catch (e) {
        const left = budget - (performance.now() - started);
        if (!watch || !(e instanceof KeyholdError) || e.code !== 'not_before' || left <= 0) throw e;
        // Until the designation changes, notBefore comes, or the budget ends; then decide again.
        await watch.changed(validator, seen.version, Math.min(left, Math.max(1, seen.notBefore - this.d.clock.now())));
      }
    }
  }

  private fetchOnce(pod: PodIdentity, validator: string, recipient: CryptoKey, seen: { version: number; notBefore: number }): Promise<FetchResult> {
    return withCasRetry(async () => {
      // A standby's not_designated may come from a recent read (a refusal changes nothing); anything else reads afresh.
      const { record, readAt } = this.recentNotDesignated(pod, validator) ?? (await this.d.designations.read(validator));
      const now = this.d.clock.now();
      const base = { time: now, actor: actorOf(pod), validator, slot: pod.slot };
      if (!record) {
        // The same answer as a validator this pod has no slot of (decideFetch),
        // after the same read and one ledger write: ids are not enumerable.
        await this.refuse(draft({ ...base, action: 'denied', epoch: null, reason: 'unknown_validator' }, false), null);
        throw this.notDesignated();
      }
      const decision = decideFetch(this.d.timing, record, pod, now);
      const epoch = record.designation.epoch;
      const notBefore = record.designation.notBefore;
      if (decision.kind === 'deny') {
        await this.refuse(draft({ ...base, action: 'denied', epoch, reason: decision.error.code }, true), notBefore);
        throw decision.error.code === 'not_designated' ? this.notDesignated() : decision.error;
      }
      if (decision.kind === 'wait') {
        const entry = draft(
          {
            ...base,
            action: decision.action,
            epoch: decision.next?.designation.epoch ?? epoch,
            reason: 'not_before',
            details: { notBefore: decision.notBefore, ...(decision.next ? { supersededEpoch: epoch, supersededPod: record.designation.podUid } : {}) },
          },
          true,
        );
        // A takeover changes the record; waiting again for the same notBefore is a repeated refusal.
        if (decision.next) await commitOrThrow(this.d.state, { next: decision.next, expectedVersion: record.version }, [entry], { window: this.window(now) });
        else await this.refuse(entry, notBefore);
        if (decision.next) this.d.designations.remember(validator, decision.next, readAt);
        seen.version = (decision.next ?? record).version;
        seen.notBefore = decision.notBefore;
        throw new KeyholdError('not_before', { retryAfter: decision.retryAfter });
      }
      const key = await this.readKey(validator, record.keyFingerprint, base, epoch, notBefore);
      // Whatever happens from here, this copy is wiped; and when the decision
      // fails (a lost CAS, the state store down), any cached copy goes too.
      let delivered = false;
      try {
        const after = decision.next;
        const claims: GrantClaims = { validator, slot: pod.slot, podUid: pod.podUid, epoch: after.designation.epoch };
        const exp = grantExpiry(this.d.timing, now, readAt);
        if (exp === null) throw new KeyholdError('state_store_unavailable', { retryAfter: 5 });
        const grant = await this.d.signer.sign(claims, now, exp);
        const entries: LedgerDraft[] = [
          ...(this.d.refusals?.settle(validator, base.actor, now) ?? []),
          ...this.keyReadEntries(key, base, claims.epoch),
          draft(
            {
              ...base,
              action: decision.action,
              epoch: claims.epoch,
              reason: null,
              details: { jti: grant.jti, exp: grant.exp, keyStore: key.store, keyVersion: key.version, keyFingerprint: record.keyFingerprint, predecessor: predecessorOf(after) },
            },
            true,
          ),
        ];
        // An issue starts no wait, so its send window may count from after the key read.
        await commitOrThrow(this.d.state, { next: after, expectedVersion: record.version }, entries, { window: this.window(this.d.clock.now()) });
        this.d.designations.remember(validator, after, readAt);
        const jwe = await encryptKeyForPod(key.material, after.slashingProtection, recipient, { validator, epoch: claims.epoch });
        delivered = true;
        this.lastGrants.note(validator, { epoch: claims.epoch, podUid: claims.podUid, at: this.d.clock.now(), exp: grant.exp * 1000, kind: 'issued' });
        return { grant, key: jwe, predecessor: predecessorOf(after) };
      } finally {
        for (const f of key.material.files.values()) f.wipe();
        if (!delivered) this.d.keys.forget?.(validator);
      }
    });
  }

  /** No key material and no store write: one read of the designation, one signature. */
  async renew(pod: PodIdentity, grantToken: string): Promise<RenewResult> {
    const presented = await this.verifyRenewal(grantToken);
    return this.renewFrom(pod, presented, await this.d.designations.readForRenewal(presented.claims.validator));
  }

  /**
   * A renewal's first step, before anything about its validator is read:
   * the presented grant, verified at the time the renewal is decided at.
   */
  async verifyRenewal(grantToken: string): Promise<PresentedRenewal> {
    const now = this.d.clock.now();
    const grant = await this.d.signer.verify(grantToken, now);
    return { claims: grant.claims, now };
  }

  /** The designations of many verified renewals, in one batched read (DesignationReader.readManyForRenewal). */
  readForRenewals(validators: readonly string[]): Promise<Map<string, RenewalRead>> {
    return this.d.designations.readManyForRenewal(validators);
  }

  /** A verified renewal decided from a read of its designation (readForRenewal's, or one of readForRenewals'), then signed. */
  async renewFrom(pod: PodIdentity, presented: PresentedRenewal, read: DesignationRead): Promise<RenewResult> {
    const { claims, now } = presented;
    const validator = claims.validator;
    const { record, readAt } = read;
    const refusal = record ? checkRenew(record, claims, pod, now) : new KeyholdError('stale_epoch');
    if (refusal) {
      // A stale holder and a grant presented by another pod (a stolen grant) are both worth recording.
      const action = refusal.code === 'stale_epoch' ? 'renew_refused' : 'denied';
      await this.refuse(
        draft(
          { time: now, actor: actorOf(pod), action, validator, epoch: claims.epoch, slot: pod.slot, reason: refusal.code, details: { request: 'renew', currentEpoch: record?.designation.epoch ?? null } },
          record !== null,
        ),
        record?.designation.notBefore ?? null,
      );
      throw refusal;
    }
    const exp = grantExpiry(this.d.timing, now, readAt);
    if (exp === null) throw new KeyholdError('state_store_unavailable', { retryAfter: 5 });
    const grant = await this.d.signer.sign(claims, now, exp);
    this.lastGrants.note(validator, { epoch: claims.epoch, podUid: claims.podUid, at: now, exp: grant.exp * 1000, kind: 'renewed' });
    return { grant };
  }

  /**
   * `interchange`: the holder's EIP-3076 export as parsed JSON, or null; checked and merged in the core.
   * `evidence`: the keeper's evidence that the signer stopped; only a fenced acknowledgement depends on it.
   */
  async release(pod: PodIdentity, grantToken: string, interchange: unknown, evidence: StopEvidence = 'unproven'): Promise<ReleaseResult> {
    const presented = await this.d.signer.verify(grantToken, this.d.clock.now(), { allowExpired: true });
    const validator = presented.claims.validator;
    return withCasRetry(async () => {
      const { record, readAt } = await this.d.designations.read(validator);
      const now = this.d.clock.now();
      const base = { time: now, actor: actorOf(pod), validator, slot: pod.slot, epoch: presented.claims.epoch };
      if (!record) throw new KeyholdError('stale_epoch');
      const decision = decideRelease(record, presented.claims, pod, now, interchange, evidence);
      if (decision.kind === 'deny') {
        await this.refuse(draft({ ...base, action: 'denied', reason: decision.error.code, details: { request: 'release' } }, true), record.designation.notBefore);
        throw decision.error;
      }
      if (decision.kind === 'already_released' || decision.kind === 'already_acknowledged') {
        // Its word was taken once; a repeat (a lost answer, retried) changes nothing.
        return { outcome: decision.kind, epoch: record.designation.epoch, slashingProtection: 'none' };
      }
      const { status, code } = decision.history;
      const action = decision.kind === 'released' ? 'released' : 'fenced_ack';
      const stop = decision.kind === 'fenced_ack' ? decision.stop : null;
      const after = decision.next ?? record;
      const details = { slashingProtection: status, ...(code ? { slashingProtectionCode: code } : {}), currentEpoch: record.designation.epoch, predecessor: predecessorOf(after), ...(stop ? { stop } : {}) };
      const entry = draft({ ...base, action, reason: code ?? null, details }, true);
      await commitOrThrow(this.d.state, decision.next ? { next: decision.next, expectedVersion: record.version } : undefined, [entry], { window: this.window(now) });
      if (decision.next) this.d.designations.remember(validator, decision.next, readAt);
      return {
        outcome: decision.kind === 'released' ? 'released' : 'acknowledged',
        epoch: record.designation.epoch,
        slashingProtection: status,
        ...(code ? { slashingProtectionCode: code } : {}),
        ...(stop ? { stop } : {}),
      };
    });
  }

  private recentNotDesignated(pod: PodIdentity, validator: string): DesignationRead | null {
    const recent = this.d.designations.recent(validator);
    if (!recent?.record) return null;
    const decision = decideFetch(this.d.timing, recent.record, pod, this.d.clock.now());
    return decision.kind === 'deny' && decision.error.code === 'not_designated' ? recent : null;
  }

  /** Asking sooner cannot change a not_designated (only an operator's promotion does), so a standby is told to ask rarely. */
  private notDesignated(): KeyholdError {
    return new KeyholdError('not_designated', this.d.standbyRetryAfter === undefined ? {} : { retryAfter: this.d.standbyRetryAfter });
  }

  private window(decidedAt: number): CommitWindow {
    return { timing: this.d.timing, decidedAt, clock: this.d.clock };
  }

  private async readKey(validator: string, expectedFingerprint: string, base: { time: number; actor: string; slot: string }, epoch: number, notBefore: number): Promise<KeyRead> {
    try {
      return await this.d.keys.read(validator, expectedFingerprint);
    } catch (e) {
      if (e instanceof KeyReadError) {
        await this.refuse(
          draft({ ...base, validator, action: 'denied', epoch, reason: 'key_store_unavailable', details: Object.fromEntries(e.fallbacks.map((f) => [`store:${f.store}`, f.reason])) }, true),
          notBefore,
        );
      }
      throw e;
    }
  }

  private keyReadEntries(key: KeyRead, base: { time: number; actor: string; validator: string; slot: string }, epoch: number): LedgerDraft[] {
    this.d.observe?.keyRead(key);
    const entries = key.fallbacks.map((f) =>
      draft({ ...base, action: 'store_fallback', epoch, reason: f.reason, details: { store: f.store, servedBy: key.store } }, true),
    );
    if (key.cache === 'stale') entries.push(draft({ ...base, action: 'cache_served', epoch, reason: 'all_stores_failing', details: { version: key.version } }, true));
    return entries;
  }

  /**
   * A refusal is a decision too: written down before the answer, or the
   * answer is 503. Identical repeats are counted instead (refusals.ts).
   */
  private async refuse(entry: LedgerDraft, notBefore: number | null): Promise<void> {
    const plan = this.d.refusals?.admit(entry, notBefore);
    if (!plan) return commitOrThrow(this.d.state, undefined, [entry]);
    // Counts of dropped windows are best effort: their first entries are written already.
    if (plan.evicted.length > 0) await commitOrThrow(this.d.state, undefined, plan.evicted).catch(() => undefined);
    if (plan.entries.length === 0) return;
    try {
      await commitOrThrow(this.d.state, undefined, plan.entries);
    } catch (e) {
      plan.undo();
      throw e;
    }
  }
}
