import { describe, expect, it } from 'vitest';
import type { Clock } from './clock';
import { deadlineFromRecord, deadlineFromSend, isPast, lifetimeMs, remainingMs, renewAtMono } from './deadline';

class TestClock implements Clock {
  constructor(
    public w: number,
    public m: number,
  ) {}
  wall = () => this.w;
  mono = () => this.m;
  advance(ms: number) {
    this.w += ms;
    this.m += ms;
  }
}

describe('renewal deadline', () => {
  const grant = { iat: 1_000, exp: 1_015 }; // a 15 s grant

  it('counts the lifetime from the send, so a delayed reply does not stretch the holding', () => {
    const clock = new TestClock(1_000_000, 50);
    const sent = { wall: clock.wall(), mono: clock.mono() };
    clock.advance(4_000); // the reply took 4 s
    const d = deadlineFromSend(sent, lifetimeMs(grant), 3_000);
    expect(d).toEqual({ wall: 1_000_000 + 12_000, mono: 50 + 12_000 });
    expect(remainingMs(d, clock)).toBe(8_000); // not 12 s: the 4 s in flight are spent
    clock.advance(7_999);
    expect(isPast(d, clock)).toBe(false);
    clock.advance(1);
    expect(isPast(d, clock)).toBe(true);
  });

  it('stops at the earlier of the two clocks: a wall clock set back does not extend, set forward stops early', () => {
    const clock = new TestClock(1_000_000, 0);
    const d = deadlineFromSend({ wall: clock.wall(), mono: clock.mono() }, 15_000, 3_000);
    clock.m += 12_000;
    clock.w -= 60_000; // NTP stepped the wall clock back a minute
    expect(isPast(d, clock)).toBe(true);
    const c2 = new TestClock(1_000_000, 0);
    const d2 = deadlineFromSend({ wall: c2.wall(), mono: c2.mono() }, 15_000, 3_000);
    c2.w += 12_000; // wall clock jumps ahead; monotonic says only 0 s passed
    expect(isPast(d2, c2)).toBe(true);
  });

  it('for a grant fetch obtained, starts from fetch’s wall-clock send time, not from when the keeper started', () => {
    const clock = new TestClock(2_000_000, 777);
    // fetch sent its request 5 s before the keeper read grant.json
    const d = deadlineFromRecord(2_000_000 - 5_000, lifetimeMs(grant), 3_000, clock);
    expect(remainingMs(d, clock)).toBe(7_000);
    expect(d.mono).toBe(777 + 7_000);
    // later the wall clock goes back 30 s: the monotonic deadline still holds
    clock.m += 7_000;
    clock.w -= 30_000;
    expect(isPast(d, clock)).toBe(true);
  });

  it('clamps a recorded send time that lies in the future, so a backwards clock step between processes adds nothing', () => {
    const clock = new TestClock(2_000_000, 0);
    const d = deadlineFromRecord(2_000_000 + 60_000, 15_000, 3_000, clock);
    expect(d.mono).toBe(12_000);
    expect(remainingMs(d, clock)).toBe(12_000);
  });

  it('is already past when the margin eats the lifetime', () => {
    const clock = new TestClock(0, 0);
    expect(isPast(deadlineFromSend({ wall: 0, mono: 0 }, 10_000, 10_000), clock)).toBe(true);
  });

  it('renews at a third of the lifetime after the send', () => {
    expect(renewAtMono(100, 15_000)).toBe(5_100);
    expect(lifetimeMs({ iat: 10, exp: 5 })).toBe(0);
  });
});
