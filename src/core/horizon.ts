// Invariant 3. H = grantTtl + outageTolerance bounds how long any grant can
// outlive the designation read it was issued from. A takeover decided at D
// lands, if at all, by D + C (its commit deadline, held on the store's side),
// and until it lands the old holder may still renew; so the newcomer waits
// C + H plus the skew between the clock that decided and the clock that admits.

export interface Timing {
  /** Lifetime of one grant, ms. */
  readonly grantTtlMs: number;
  /** How long holders keep renewing from the last designation read while the state store is down, ms. */
  readonly outageToleranceMs: number;
  /** Bound on the difference between any two broker clocks, ms. */
  readonly maxClockSkewMs: number;
  /**
   * C: a commit decided at D can no longer land after D + C, ms. The store
   * holds that bound on its side (it refuses a late request, or it records
   * when the write landed and readers count from that: `landedNotBefore`).
   */
  readonly commitDeadlineMs: number;
  /** How long after the decision the broker may still send a commit's requests, ms; at most C. */
  readonly commitSendWindowMs: number;
  /** Test mode's control run only (src/test-mode.ts): no wait before a new instance. Never set in a deployment. */
  readonly unsafeNoTakeoverWait?: boolean;
}

export const horizonMs = (t: Timing): number => t.grantTtlMs + t.outageToleranceMs;

/** The wait a takeover or unclean promotion adds to its decision time: C + H + maxClockSkew. */
export const takeoverWaitMs = (t: Timing): number => (t.unsafeNoTakeoverWait ? 0 : t.commitDeadlineMs + horizonMs(t) + t.maxClockSkewMs);

/**
 * When a new pod instance may first be admitted after a decision at
 * `decidedAt`: counted from the latest moment the decision could still land,
 * so a late commit never shortens the wait.
 */
export function takeoverNotBefore(t: Timing, decidedAt: number, previousReleasedCleanly: boolean): number {
  return previousReleasedCleanly ? decidedAt : decidedAt + takeoverWaitMs(t);
}

/**
 * For a store that records when a write landed instead of refusing a late
 * one (Vault KV v2's `created_time`): a wait decided at `updatedAt` that
 * landed after its deadline counts from the landing, as if decided at
 * `landedAt - C`. `landedAt` is the store's clock, within maxClockSkew of
 * the brokers', so that skew is added once more. Idempotent: a record
 * written back with the moved `notBefore` (a re-issue) moves no further.
 */
export function landedNotBefore(t: Timing, d: { readonly notBefore: number; readonly updatedAt: number }, landedAt: number): number {
  if (d.notBefore <= d.updatedAt) return d.notBefore;
  const late = landedAt + t.maxClockSkewMs - (d.updatedAt + t.commitDeadlineMs);
  return late > 0 ? Math.max(d.notBefore, landedAt + t.maxClockSkewMs + horizonMs(t) + t.maxClockSkewMs) : d.notBefore;
}

/** When the broker stops sending a commit decided at `decidedAt` (its own clock). */
export const commitSendBy = (t: Timing, decidedAt: number): number => decidedAt + Math.min(t.commitSendWindowMs, t.commitDeadlineMs);

/**
 * The latest `exp` a grant issued at `now` may carry, given that the
 * designation it relies on was last read from the authoritative store at
 * `lastAuthoritativeRead` (the moment the read was sent, not answered).
 * Null when no grant may be issued any more.
 */
export function grantExpiry(t: Timing, now: number, lastAuthoritativeRead: number): number | null {
  const exp = Math.min(now + t.grantTtlMs, lastAuthoritativeRead + horizonMs(t));
  // JWT times are whole seconds: round down so rounding never stretches a grant.
  const expSeconds = Math.floor(exp / 1000) * 1000;
  return expSeconds > now ? expSeconds : null;
}

export const retryAfterSeconds = (now: number, notBefore: number): number =>
  Math.max(1, Math.ceil((notBefore - now) / 1000));
