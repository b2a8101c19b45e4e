// Switches that exist only so the chaos harness (test/chaos/) can break the
// broker and the hooks on purpose: a skewed clock, a shortened store-side
// commit bound, grant lifetimes below the production minimum, and one
// control that removes a safety step. Every one of them is refused unless
// KEYHOLD_TEST_MODE=1 is set too, and test mode itself is refused outside a
// plain local node process, so a leftover variable can never weaken a real
// deployment: it stops it from starting instead.

export type TestEnv = Readonly<Record<string, string | undefined>>;

export interface TestMode {
  readonly enabled: boolean;
  /** Added to this process's wall clock (never to its monotonic clock), ms. */
  readonly clockOffsetMs: number;
  /** Replaces the state store's commit landing bound (stores/commit-bounds.ts), ms; the harness's store proxy enforces it. */
  readonly commitLandingMs: number | null;
  /** The control run: takeovers and unclean promotions skip the wait of invariant 3. Unsafe by design. */
  readonly unsafeNoTakeoverWait: boolean;
}

export const testModeVariables = ['KEYHOLD_TEST_CLOCK_OFFSET_MS', 'KEYHOLD_TEST_COMMIT_LANDING_MS', 'KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT'] as const;

export const productionMode: TestMode = { enabled: false, clockOffsetMs: 0, commitLandingMs: null, unsafeNoTakeoverWait: false };

/**
 * `maxClockSkewMs` bounds the difference between any two clocks, so each
 * process may be off by at most half of it: two offsets within that still
 * differ by no more than the bound. A larger offset is refused, not clamped.
 * Errors come back as a message naming the variable; the caller wraps it in
 * its own config error type.
 */
export function parseTestMode(env: TestEnv, opts: { readonly runtime: string; readonly maxClockSkewMs: number }): TestMode | string {
  const flag = env.KEYHOLD_TEST_MODE;
  const set = testModeVariables.filter((v) => env[v] !== undefined && env[v] !== '');
  if (flag === undefined || flag === '' || flag === '0') {
    return set.length > 0 ? `${set[0]} is a test-only setting and needs KEYHOLD_TEST_MODE=1; unset it in any real deployment` : productionMode;
  }
  if (flag !== '1') return `KEYHOLD_TEST_MODE must be 1 or unset, got "${flag}"`;
  if (opts.runtime !== 'node') return `KEYHOLD_TEST_MODE=1 is for a local node process only, not the ${opts.runtime} runtime`;

  const integer = (name: string, dflt: number): number | string => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    return Number.isSafeInteger(n) ? n : `${name} must be a whole number of milliseconds, got "${raw}"`;
  };
  const offset = integer('KEYHOLD_TEST_CLOCK_OFFSET_MS', 0);
  if (typeof offset === 'string') return offset;
  if (Math.abs(offset) * 2 > opts.maxClockSkewMs) {
    return `KEYHOLD_TEST_CLOCK_OFFSET_MS (${offset}) is beyond the clock-skew bound: each clock may be off by at most half of KEYHOLD_MAX_CLOCK_SKEW_SECONDS (${opts.maxClockSkewMs / 2} ms)`;
  }
  const landing = integer('KEYHOLD_TEST_COMMIT_LANDING_MS', -1);
  if (typeof landing === 'string') return landing;
  if (landing !== -1 && landing < 0) return 'KEYHOLD_TEST_COMMIT_LANDING_MS cannot be negative';
  const unsafe = env.KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT ?? '';
  if (!['', '0', '1'].includes(unsafe)) return `KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT must be 1 or unset, got "${unsafe}"`;
  return { enabled: true, clockOffsetMs: offset, commitLandingMs: landing === -1 ? null : landing, unsafeNoTakeoverWait: unsafe === '1' };
}
