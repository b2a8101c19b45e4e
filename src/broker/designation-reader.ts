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
    const known = this.last.get(validator);
    if (known && (record === null || record.version < known.record.version)) return { record: known.record, readAt: known.readAt, authoritative: true };
    this.remember(validator, record, readAt);
    return { record, readAt, authoritative: true };
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
      if (!(e instanceof KeyholdError) || e.code !== 'state_store_unavailable') throw e;
      const cached = this.last.get(validator);
      if (!cached || this.clock.now() >= cached.readAt + horizonMs(this.timing)) throw e;
      return { record: cached.record, readAt: cached.readAt, authoritative: false };
    }
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
