import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commitSendBy, grantExpiry, horizonMs, landedNotBefore, retryAfterSeconds, takeoverNotBefore, type Timing } from './horizon';

const t: Timing = { grantTtlMs: 60_000, outageToleranceMs: 300_000, maxClockSkewMs: 5_000, commitDeadlineMs: 10_000, commitSendWindowMs: 5_000 };

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
  it('waits the commit deadline, the horizon and the skew, unless the holder released cleanly', () => {
    expect(takeoverNotBefore(t, 1000, false)).toBe(1000 + 10_000 + 360_000 + 5_000);
    expect(takeoverNotBefore(t, 1000, true)).toBe(1000);
  });
  it('leaves an old holder time to stop even when the commit lands at its deadline', () => {
    // The old holder's last grant comes from a read just before the landing
    // L = D + C, so it stops by L + H; the newcomer comes in skew later.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: t.commitDeadlineMs }), (decided, lateness) => {
        const landed = decided + lateness;
        const lastRenewalRead = landed - 1;
        const oldStops = grantExpiry(t, lastRenewalRead, lastRenewalRead - (t.outageToleranceMs - 1)) ?? lastRenewalRead;
        expect(takeoverNotBefore(t, decided, false)).toBeGreaterThanOrEqual(Math.max(oldStops, lastRenewalRead + horizonMs(t)) + t.maxClockSkewMs - 1);
      }),
    );
  });
});

describe('landedNotBefore', () => {
  const d = { updatedAt: 1000, notBefore: takeoverNotBefore(t, 1000, false) };
  it('keeps the wait when the write landed within its deadline', () => {
    expect(landedNotBefore(t, d, 1000 + t.commitDeadlineMs - t.maxClockSkewMs)).toBe(d.notBefore);
  });
  it('counts from the landing when the write landed late', () => {
    const landed = 1000 + 600_000;
    expect(landedNotBefore(t, d, landed)).toBe(landed + horizonMs(t) + 2 * t.maxClockSkewMs);
  });
  it('moves no further when the moved record is read again', () => {
    const landed = 1000 + 600_000;
    const moved = { ...d, notBefore: landedNotBefore(t, d, landed) };
    expect(landedNotBefore(t, moved, landed)).toBe(moved.notBefore);
  });
  it('leaves a designation with no wait alone', () => {
    expect(landedNotBefore(t, { updatedAt: 1000, notBefore: 1000 }, 900_000)).toBe(1000);
  });
});

describe('commitSendBy', () => {
  it('is the send window after the decision, never past the deadline', () => {
    expect(commitSendBy(t, 1000)).toBe(1000 + t.commitSendWindowMs);
    expect(commitSendBy({ ...t, commitSendWindowMs: 60_000 }, 1000)).toBe(1000 + t.commitDeadlineMs);
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up and is at least one second', () => {
    expect(retryAfterSeconds(0, 1)).toBe(1);
    expect(retryAfterSeconds(0, 1001)).toBe(2);
    expect(retryAfterSeconds(5, 0)).toBe(1);
  });
});
