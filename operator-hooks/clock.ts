// Time as the hooks see it: a wall clock (comparable with the broker's and
// with other processes, but it can jump) and a monotonic clock (never jumps,
// but means nothing outside this process). Both are injected so tests run
// without real waiting.

import { performance } from 'node:perf_hooks';
import { parseTestMode } from '../src/test-mode';

export interface Clock {
  /** Wall-clock ms since the epoch. */
  wall(): number;
  /** Monotonic ms, only comparable within this process. */
  mono(): number;
}

export const systemClock: Clock = {
  wall: () => Date.now(),
  mono: () => performance.now(),
};

/**
 * The clock of this process: the system clock, or in test mode (the chaos
 * harness) the system wall clock skewed by KEYHOLD_TEST_CLOCK_OFFSET_MS.
 * The monotonic clock is never skewed: it means nothing outside the process.
 * A string is the reason the settings are refused.
 */
export function clockFromEnv(env: Readonly<Record<string, string | undefined>>): Clock | string {
  const skew = Number(env.KEYHOLD_MAX_CLOCK_SKEW_SECONDS ?? '');
  const maxClockSkewMs = Number.isFinite(skew) && skew > 0 ? skew * 1000 : 0;
  const mode = parseTestMode(env, { runtime: 'node', maxClockSkewMs });
  if (typeof mode === 'string') return mode;
  if (!mode.enabled && env.KEYHOLD_MAX_CLOCK_SKEW_SECONDS !== undefined) return 'KEYHOLD_MAX_CLOCK_SKEW_SECONDS is a test-only setting for the hooks and needs KEYHOLD_TEST_MODE=1';
  if (mode.commitLandingMs !== null || mode.unsafeNoTakeoverWait) return 'KEYHOLD_TEST_COMMIT_LANDING_MS and KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT are broker settings';
  const offset = mode.clockOffsetMs;
  return offset === 0 ? systemClock : { wall: () => Date.now() + offset, mono: () => performance.now() };
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
