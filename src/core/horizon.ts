// Invariant 3. H = grantTtl + outageTolerance bounds how long any grant can
// outlive the designation read it was issued from; a takeover waits H plus
// the skew between the clock that decided and the clock that admits.

export interface Timing {
  /** Lifetime of one grant, ms. */
  readonly grantTtlMs: number;
  /** How long holders keep renewing from the last designation read while the state store is down, ms. */
  readonly outageToleranceMs: number;
  /** Bound on the difference between any two broker clocks, ms. */
  readonly maxClockSkewMs: number;
}

export const horizonMs = (t: Timing): number => t.grantTtlMs + t.outageToleranceMs;

/** When a new pod instance may first be admitted after a decision at `decidedAt`. */
export function takeoverNotBefore(t: Timing, decidedAt: number, previousReleasedCleanly: boolean): number {
  return previousReleasedCleanly ? decidedAt : decidedAt + horizonMs(t) + t.maxClockSkewMs;
}

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
