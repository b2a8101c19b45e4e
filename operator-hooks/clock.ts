// Time as the hooks see it: a wall clock (comparable with the broker's and
// with other processes, but it can jump) and a monotonic clock (never jumps,
// but means nothing outside this process). Both are injected so tests run
// without real waiting.

import { performance } from 'node:perf_hooks';

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
