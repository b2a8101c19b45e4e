// How long a holder may keep its key, by its own clocks (DESIGN.md, "Why the
// horizon is safe"). A grant's lifetime exp - iat is counted from the moment
// the request that obtained it was SENT: a reply delayed in the network must
// not stretch the holding past what the broker allowed. A deadline is kept on
// both clocks and whichever runs out first wins, so neither a wall-clock jump
// nor a process boundary (fetch hands the grant to the keeper) can extend it.

import type { Clock } from './clock';

export interface Deadline {
  /** Wall-clock ms at which to stop. */
  readonly wall: number;
  /** The same moment on this process's monotonic clock. */
  readonly mono: number;
}

export const lifetimeMs = (grant: { iat: number; exp: number }): number => Math.max(0, (grant.exp - grant.iat) * 1000);

/** For a request this process sent: `sent` read on both clocks just before sending. */
export function deadlineFromSend(sent: { wall: number; mono: number }, lifetime: number, marginMs: number): Deadline {
  const hold = lifetime - marginMs;
  return { wall: sent.wall + hold, mono: sent.mono + hold };
}

/**
 * A send time another process recorded (fetch, or a keeper before a
 * restart), known only on the wall clock. Monotonic clocks do not cross
 * processes, so the monotonic reading is derived once, now; a send time in
 * the future (the wall clock went back since) is clamped so it cannot add time.
 */
export function sentFromRecord(sentAtWall: number, clock: Clock): { wall: number; mono: number } {
  const nowWall = clock.wall();
  return { wall: sentAtWall, mono: clock.mono() - (nowWall - Math.min(sentAtWall, nowWall)) };
}

export const deadlineFromRecord = (sentAtWall: number, lifetime: number, marginMs: number, clock: Clock): Deadline =>
  deadlineFromSend(sentFromRecord(sentAtWall, clock), lifetime, marginMs);

/** Ms left before the earlier of the two deadlines; negative once past. */
export const remainingMs = (d: Deadline, clock: Clock): number => Math.min(d.wall - clock.wall(), d.mono - clock.mono());

export const isPast = (d: Deadline, clock: Clock): boolean => remainingMs(d, clock) <= 0;

/** Renew at a third of the lifetime after the send, on the monotonic clock. */
export const renewAtMono = (sentMono: number, lifetime: number): number => sentMono + lifetime / 3;
