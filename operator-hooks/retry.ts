// What to do after an answer that is not a grant: wait (how long, and why, in
// words for the log) or give up (with a one-line reason). Pure: the caller
// supplies the attempt number and the randomness.

import type { Failure } from './broker-client';
import { seconds } from './log';

export interface WaitSettings {
  /** Longest single wait, even when Retry-After asks for more. */
  readonly retryMaxMs: number;
  /** Keep waiting on 403 not_designated (a standby) instead of giving up. */
  readonly waitForDesignation: boolean;
  /** Ask the broker to hold a 425 this long for the designation to change (KEYHOLD_FETCH_WAIT_SECONDS); 0 or unset: plain polling. */
  readonly fetchWaitMs?: number;
}

/** Longest a standby waits between not_designated answers, whatever the broker's Retry-After. */
export const standbyMaxMs = 300_000;

export type Step = { readonly kind: 'wait'; readonly ms: number; readonly why: string } | { readonly kind: 'give_up'; readonly reason: string };

/** Exponential from 0.5 s, never above the cap. */
export const backoffMs = (attempt: number, capMs: number): number => Math.min(capMs, 500 * 2 ** Math.min(attempt, 20));

/**
 * Jitter only ever adds (up to a fifth): a wait shorter than the broker's
 * Retry-After would just be refused again, and the spread keeps a fleet of
 * pods that lost the broker together from coming back in lockstep.
 */
export const withJitter = (ms: number, random: () => number): number => Math.round(ms * (1 + 0.2 * random()));

export function nextStep(failure: Failure, attempt: number, s: WaitSettings, random: () => number): Step {
  const wait = (baseMs: number, why: string): Step => {
    const ms = withJitter(Math.min(baseMs, s.retryMaxMs), random);
    return { kind: 'wait', ms, why };
  };
  if (failure.kind === 'unreachable') return wait(backoffMs(attempt, s.retryMaxMs), `broker unreachable (${failure.reason})`);
  const { status, code, retryAfterMs } = failure;
  const asked = retryAfterMs === null ? '' : `, broker asked for ${seconds(retryAfterMs)}`;
  if (status === 425) {
    // Honour Retry-After, but look again sooner when it is longer than the
    // cap: a fenced holder's acknowledgement moves notBefore to now, and a
    // promotion should not wait out a horizon it no longer needs.
    const capped = retryAfterMs !== null && retryAfterMs > s.retryMaxMs ? '; checking sooner in case the previous holder hands over' : '';
    return wait(retryAfterMs ?? backoffMs(attempt, s.retryMaxMs), `${code}: this pod is designated but not admitted yet${asked}${capped}`);
  }
  if (status === 403 && code === 'not_designated') {
    if (!s.waitForDesignation) return { kind: 'give_up', reason: 'not_designated: the broker does not designate this pod for the validator (KEYHOLD_FETCH_WAIT_FOR_DESIGNATION=false)' };
    // Asking sooner cannot change this answer (only a promotion does, and its
    // takeover wait is longer), so a standby asks at the broker's pace: its
    // Retry-After, not KEYHOLD_RETRY_MAX_SECONDS, sets the standby's cost.
    const ms = withJitter(Math.min(retryAfterMs ?? s.retryMaxMs, standbyMaxMs), random);
    return { kind: 'wait', ms, why: `not_designated: waiting for the broker to designate this slot (standby)${asked}` };
  }
  if (status === 409 && code === 'conflict') return wait(backoffMs(attempt, s.retryMaxMs), 'conflict: the designation changed concurrently');
  if (status === 409) return { kind: 'give_up', reason: `${code}: the broker says this pod's epoch is no longer current` };
  if (status === 429 || status === 503) return wait(retryAfterMs ?? backoffMs(attempt, s.retryMaxMs), `${code}: broker temporarily unable${asked}`);
  if (status >= 500) return wait(backoffMs(attempt, s.retryMaxMs), `${code}: broker error ${status}`);
  return { kind: 'give_up', reason: `${code}: broker refused with ${status}` };
}
