// Reads validator records and remembers, per validator, the last
// authoritative read and when it was *sent*. Renewals may continue from that
// read while the state store is down, but invariant 3 caps every grant at
// lastAuthoritativeRead + H, so a holder fenced during the outage stops in time.

import type { ValidatorRecord } from '../core/designation';
import { KeyholdError } from '../core/errors';
import { horizonMs, type Timing } from '../core/horizon';
import { StoreError, type Clock, type StateStore } from '../ports';

export interface DesignationRead {
  readonly record: ValidatorRecord | null;
  /** When the read that produced `record` was sent (ms). */
  readonly readAt: number;
  readonly authoritative: boolean;
}

/** One validator's answer in a batch: what readForRenewal would return, or what it would throw. */
export type RenewalRead = { readonly ok: true; readonly read: DesignationRead } | { readonly ok: false; readonly error: unknown };

export class DesignationReader {
  private readonly last = new Map<string, { record: ValidatorRecord; readAt: number }>();
  private readonly listeners: ((validator: string, record: ValidatorRecord) => void)[] = [];

  /**
   * `reuseMs`: a renewal, or a refusal, may answer from a read this recent
   * instead of reading again (0: never). Safe for renewals because every
   * grant is capped at its read + H whatever the read's age (invariant 3),
   * as during an outage; it only delays, by up to `reuseMs`, when a holder
   * fenced on another broker instance learns of it.
   */
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly timing: Timing,
    private readonly reuseMs = 0,
  ) {
    if (!(reuseMs >= 0) || reuseMs > timing.grantTtlMs) throw new TypeError('a read may be reused for at most the grant TTL');
  }

  /**
   * Authoritative read, or 503 `state_store_unavailable`. An answer older
   * than a record this broker already knows (one it committed itself, say,
   * overtaken by a slow read or served by a lagging replica) is not taken:
   * the newer record stands, with the time it was known from.
   */
  async read(validator: string): Promise<DesignationRead> {
    const readAt = this.clock.now();
    let record: ValidatorRecord | null;
    try {
      record = await this.store.getValidator(validator);
    } catch (e) {
      throw asStateStoreError(e);
    }
    return this.take(validator, record, readAt);
  }

  /** A read sent less than `reuseMs` ago, or null. Never a ground for a grant of key material. */
  recent(validator: string): DesignationRead | null {
    const cached = this.last.get(validator);
    if (!cached || !(this.clock.now() - cached.readAt < this.reuseMs)) return null;
    return { record: cached.record, readAt: cached.readAt, authoritative: false };
  }

  /** For renewals: a recent read, else authoritative if the store answers, else the last read while it is within the horizon. */
  async readForRenewal(validator: string): Promise<DesignationRead> {
    const recent = this.recent(validator);
    if (recent) return recent;
    try {
      return await this.read(validator);
    } catch (e) {
      return this.withinHorizon(validator, e);
    }
  }

  /**
   * readForRenewal for many validators with one batched store read (for
   * those without a recent read), sent at one `readAt`. Each answer is what
   * readForRenewal would have given that validator: a read, or the error it
   * would have thrown. A store that fails fails the whole batch, so every
   * validator of it falls back as it would alone.
   */
  async readManyForRenewal(validators: readonly string[]): Promise<Map<string, RenewalRead>> {
    const out = new Map<string, RenewalRead>();
    const toRead: string[] = [];
    for (const v of new Set(validators)) {
      const recent = this.recent(v);
      if (recent) out.set(v, { ok: true, read: recent });
      else toRead.push(v);
    }
    if (toRead.length === 0) return out;
    const readAt = this.clock.now();
    let records: Map<string, ValidatorRecord>;
    try {
      records = await this.store.getValidators(toRead);
    } catch (e) {
      const error = asStateStoreError(e);
      for (const v of toRead) {
        try {
          out.set(v, { ok: true, read: this.withinHorizon(v, error) });
        } catch (refusal) {
          out.set(v, { ok: false, error: refusal });
        }
      }
      return out;
    }
    for (const v of toRead) out.set(v, { ok: true, read: this.take(v, records.get(v) ?? null, readAt) });
    return out;
  }

  /** An authoritative answer sent at `readAt`, unless this broker already knows a newer record (see `read`). */
  private take(validator: string, record: ValidatorRecord | null, readAt: number): DesignationRead {
    const known = this.last.get(validator);
    if (known && (record === null || record.version < known.record.version)) return { record: known.record, readAt: known.readAt, authoritative: true };
    this.remember(validator, record, readAt);
    return { record, readAt, authoritative: true };
  }

  /** While the state store is down, the last read stands until its horizon; any other failure is thrown as it is. */
  private withinHorizon(validator: string, e: unknown): DesignationRead {
    if (!(e instanceof KeyholdError) || e.code !== 'state_store_unavailable') throw e;
    const cached = this.last.get(validator);
    if (!cached || this.clock.now() >= cached.readAt + horizonMs(this.timing)) throw e;
    return { record: cached.record, readAt: cached.readAt, authoritative: false };
  }

  /** After this broker commits a record it knows it as of the moment it read the record it changed. */
  remember(validator: string, record: ValidatorRecord | null, readAt: number): void {
    if (record === null) {
      this.last.delete(validator);
      return;
    }
    const prev = this.last.get(validator);
    // Never let an older record replace a newer one (a record only moves by
    // compare-and-swap on its version), and of two copies of one version keep
    // the later read.
    if (!prev || prev.record.version < record.version || (prev.record.version === record.version && prev.readAt <= readAt)) this.last.set(validator, { record, readAt });
    if (!prev || prev.record.version < record.version) for (const l of this.listeners) l(validator, record);
  }

  /** The newest record this broker knows of `validator` (read or committed here), or null. Never a ground for a grant. */
  known(validator: string): ValidatorRecord | null {
    return this.last.get(validator)?.record ?? null;
  }

  /** Called with each record newer than the one known before it (a read or a commit of this broker). */
  listen(onNewer: (validator: string, record: ValidatorRecord) => void): void {
    this.listeners.push(onNewer);
  }
}

/**
 * A store fault becomes the public 503 (the cause stays internal); anything
 * else is a bug and stays what it is, so it surfaces as a 500.
 */
export function asStateStoreError(e: unknown): unknown {
  if (e instanceof KeyholdError) return e;
  if (e instanceof StoreError || isTransient(e)) return new KeyholdError('state_store_unavailable', { retryAfter: 5, cause: e });
  return e;
}

const isTransient = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && ['TimeoutError', 'BrokenCircuitError', 'TaskCancelledError'].includes((e as Error).name);
