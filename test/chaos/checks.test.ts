// The chaos checks must be able to fail: each rule is fed a history that
// breaks it, and one that keeps it.
import { describe, expect, it } from 'vitest';
import { epochsRise, handoffs, ledgerTells, longestUnavailableMs, overlaps, watermarksHold, type Interval, type Signing } from './checks';

const iv = (holder: string, start: number, end: number | null, epoch: number, extra: Partial<Interval> = {}): Interval => ({
  key: 'v1',
  holder,
  pod: `pod-${holder}`,
  start,
  end,
  epoch,
  predecessor: 'acknowledged',
  watermark: -1,
  ...extra,
});
const sign = (holder: string, at: number, slot: number): Signing => ({ key: 'v1', holder, at, slot });

describe('chaos checks', () => {
  it('finds two instances holding one key at once, and not one instance restarting its signer', () => {
    expect(overlaps([iv('a', 0, 100, 1), iv('b', 100, 200, 2)], 300)).toEqual([]);
    expect(overlaps([iv('a', 0, 101, 1), iv('b', 100, 200, 2)], 300)).toHaveLength(1);
    expect(overlaps([iv('a', 0, null, 1), iv('b', 250, null, 2)], 300)).toHaveLength(1);
    expect(overlaps([iv('a', 0, 100, 1), iv('a', 50, 200, 1)], 300)).toEqual([]);
    expect(overlaps([iv('a', 0, 100, 1), { ...iv('b', 50, 200, 2), key: 'v2' }], 300)).toEqual([]);
  });

  it('finds an epoch that fell, or a new instance under the same epoch', () => {
    expect(epochsRise([iv('a', 0, 10, 1), iv('a', 20, 30, 1), iv('b', 40, 50, 3)])).toEqual([]);
    expect(epochsRise([iv('a', 0, 10, 2), iv('b', 20, 30, 1)]).map((v) => v.kind)).toEqual(['epoch_fell']);
    expect(epochsRise([iv('a', 0, 10, 2), iv('b', 20, 30, 2)]).map((v) => v.kind)).toEqual(['epoch_fell']);
  });

  it('finds a proven handoff whose watermark misses the predecessor\'s signings, and a watermark that fell', () => {
    const signings = [sign('a', 5, 70), sign('a', 9, 71)];
    expect(watermarksHold([iv('a', 0, 10, 1), iv('b', 20, 30, 2, { watermark: 71 })], signings)).toEqual([]);
    expect(watermarksHold([iv('a', 0, 10, 1), iv('b', 20, 30, 2, { watermark: 70, predecessor: 'released' })], signings).map((v) => v.kind)).toEqual(['watermark_below_signing']);
    // Unproven: the broker said it could not know; only the never-falls rule applies.
    expect(watermarksHold([iv('a', 0, 10, 1), iv('b', 20, 30, 2, { watermark: 3, predecessor: 'unproven' })], signings)).toEqual([]);
    expect(watermarksHold([iv('a', 0, 10, 1, { watermark: 50 }), iv('b', 20, 30, 2, { watermark: 40, predecessor: 'unproven' })], []).map((v) => v.kind)).toEqual(['watermark_fell']);
  });

  it('finds a ledger that does not verify or does not tell a holding', () => {
    const xs = [iv('a', 0, 10, 1), iv('b', 20, 30, 2)];
    expect(ledgerTells(xs, { verified: true, epochs: { v1: [1, 2] } })).toEqual([]);
    expect(ledgerTells(xs, { verified: true, epochs: { v1: [1] } }).map((v) => v.kind)).toEqual(['ledger_missing_epoch']);
    expect(ledgerTells(xs, { verified: false, problem: 'TAMPERED', epochs: { v1: [1, 2] } }).map((v) => v.kind)).toEqual(['ledger_unverified']);
  });

  it('measures the longest gap without a holder and counts handoffs', () => {
    const xs = [iv('a', 100, 200, 1), iv('a', 250, 400, 1), iv('b', 1400, null, 2)];
    expect(longestUnavailableMs(xs, 'v1', 2000)).toBe(1000);
    expect(longestUnavailableMs([iv('a', 0, 500, 1)], 'v1', 2000)).toBe(1500);
    expect(handoffs(xs)).toBe(1);
  });
});
