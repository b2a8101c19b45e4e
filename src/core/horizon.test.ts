import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grantExpiry, horizonMs, retryAfterSeconds, takeoverNotBefore, type Timing } from './horizon';

const t: Timing = { grantTtlMs: 60_000, outageToleranceMs: 300_000, maxClockSkewMs: 5_000 };

describe('grantExpiry', () => {
  it('is the TTL after a fresh read, in whole seconds', () => {
    expect(grantExpiry(t, 10_500, 10_500)).toBe(70_000);
  });
  it('never exceeds the last authoritative read plus the horizon', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e7 }), (read, since) => {
        const exp = grantExpiry(t, read + since, read);
        if (exp !== null) {
          expect(exp).toBeLessThanOrEqual(read + horizonMs(t));
          expect(exp).toBeLessThanOrEqual(read + since + t.grantTtlMs);
          expect(exp).toBeGreaterThan(read + since);
          expect(exp % 1000).toBe(0);
        } else {
          expect(read + horizonMs(t)).toBeLessThan(read + since + 1000);
        }
      }),
    );
  });
  it('refuses once the horizon has passed', () => {
    expect(grantExpiry(t, 1_000_000 + horizonMs(t), 1_000_000)).toBeNull();
  });
});

describe('takeoverNotBefore', () => {
  it('waits the horizon plus skew, unless the holder released cleanly', () => {
    expect(takeoverNotBefore(t, 1000, false)).toBe(1000 + 360_000 + 5_000);
    expect(takeoverNotBefore(t, 1000, true)).toBe(1000);
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up and is at least one second', () => {
    expect(retryAfterSeconds(0, 1)).toBe(1);
    expect(retryAfterSeconds(0, 1001)).toBe(2);
    expect(retryAfterSeconds(5, 0)).toBe(1);
  });
});
