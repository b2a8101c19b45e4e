import { describe, expect, it } from 'vitest';
import { parseConfig } from './config';
import { takeoverWaitMs } from './core/horizon';
import { parseTestMode } from './test-mode';
import { clockFromEnv } from '../operator-hooks/clock';

const node = { runtime: 'node', maxClockSkewMs: 2000 };

describe('test mode', () => {
  it('refuses every test-only setting without KEYHOLD_TEST_MODE=1, so production cannot pick one up by accident', () => {
    for (const v of ['KEYHOLD_TEST_CLOCK_OFFSET_MS', 'KEYHOLD_TEST_COMMIT_LANDING_MS', 'KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT']) {
      expect(parseTestMode({ [v]: '1' }, node)).toContain(v);
      expect(parseTestMode({ [v]: '1', KEYHOLD_TEST_MODE: '0' }, node)).toContain('KEYHOLD_TEST_MODE=1');
      expect(() => parseConfig({ [v]: '1' })).toThrow(v);
    }
    expect(parseTestMode({}, node)).toMatchObject({ enabled: false, clockOffsetMs: 0, unsafeNoTakeoverWait: false });
  });

  it('is refused on every runtime but a local node process', () => {
    expect(parseTestMode({ KEYHOLD_TEST_MODE: '1' }, { ...node, runtime: 'aws-lambda' })).toContain('aws-lambda');
    expect(() => parseConfig({ KEYHOLD_TEST_MODE: '1', KEYHOLD_RUNTIME: 'kubernetes', KEYHOLD_STATE_STORE: 'vault' })).toThrow('KEYHOLD_TEST_MODE');
    expect(parseTestMode({ KEYHOLD_TEST_MODE: 'yes' }, node)).toContain('KEYHOLD_TEST_MODE');
  });

  it('takes a clock offset up to half the skew bound and refuses one beyond it', () => {
    expect(parseTestMode({ KEYHOLD_TEST_MODE: '1', KEYHOLD_TEST_CLOCK_OFFSET_MS: '-1000' }, node)).toMatchObject({ clockOffsetMs: -1000 });
    expect(parseTestMode({ KEYHOLD_TEST_MODE: '1', KEYHOLD_TEST_CLOCK_OFFSET_MS: '1001' }, node)).toContain('beyond the clock-skew bound');
    expect(parseTestMode({ KEYHOLD_TEST_MODE: '1', KEYHOLD_TEST_CLOCK_OFFSET_MS: '0.5' }, node)).toContain('whole number');
    expect(() => parseConfig({ KEYHOLD_TEST_MODE: '1', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '1', KEYHOLD_TEST_CLOCK_OFFSET_MS: '600' })).toThrow('beyond the clock-skew bound');
    expect(parseConfig({ KEYHOLD_TEST_MODE: '1', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '1', KEYHOLD_TEST_CLOCK_OFFSET_MS: '500' }).testMode.clockOffsetMs).toBe(500);
  });

  it('allows short grants only in test mode', () => {
    const short = { KEYHOLD_GRANT_TTL_SECONDS: '6', KEYHOLD_OUTAGE_TOLERANCE_SECONDS: '6', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '1' };
    expect(() => parseConfig(short)).toThrow('from 15 to 3600');
    expect(parseConfig({ ...short, KEYHOLD_TEST_MODE: '1' }).timing.grantTtlMs).toBe(6000);
  });

  it('shortens the store-side commit bound only in test mode', () => {
    const env = { KEYHOLD_STATE_STORE: 'dynamodb', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '1', KEYHOLD_COMMIT_DEADLINE_SECONDS: '4' };
    expect(() => parseConfig(env)).toThrow('KEYHOLD_COMMIT_DEADLINE_SECONDS');
    expect(parseConfig({ ...env, KEYHOLD_TEST_MODE: '1', KEYHOLD_TEST_COMMIT_LANDING_MS: '2000' }).timing.commitDeadlineMs).toBe(4000);
  });

  it('removes the takeover wait only for the control run', () => {
    const base = { KEYHOLD_TEST_MODE: '1', KEYHOLD_GRANT_TTL_SECONDS: '15', KEYHOLD_OUTAGE_TOLERANCE_SECONDS: '15' };
    expect(takeoverWaitMs(parseConfig(base).timing)).toBeGreaterThan(30_000);
    expect(takeoverWaitMs(parseConfig({ ...base, KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT: '1' }).timing)).toBe(0);
  });

  it('skews the hooks\' wall clock, never their monotonic one, and only within the bound', () => {
    const c = clockFromEnv({ KEYHOLD_TEST_MODE: '1', KEYHOLD_MAX_CLOCK_SKEW_SECONDS: '2', KEYHOLD_TEST_CLOCK_OFFSET_MS: '-900' });
    if (typeof c === 'string') throw new Error(c);
    expect(Date.now() - c.wall()).toBeGreaterThanOrEqual(899);
    expect(Math.abs(c.mono() - performance.now())).toBeLessThan(50);
    expect(clockFromEnv({ KEYHOLD_TEST_CLOCK_OFFSET_MS: '10' })).toContain('KEYHOLD_TEST_MODE=1');
    expect(clockFromEnv({ KEYHOLD_TEST_MODE: '1', KEYHOLD_TEST_CLOCK_OFFSET_MS: '10' })).toContain('beyond the clock-skew bound');
    expect(clockFromEnv({ KEYHOLD_TEST_MODE: '1', KEYHOLD_TEST_UNSAFE_NO_TAKEOVER_WAIT: '1' })).toContain('broker settings');
  });
});
