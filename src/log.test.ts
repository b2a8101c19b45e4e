import { describe, expect, it } from 'vitest';
import { redact } from './log';

describe('redact', () => {
  it('replaces JWTs and long opaque runs inside strings, keeps hex digests and short values', () => {
    const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ2YWwtMSJ9.c2lnbmF0dXJl';
    expect(redact(`token ${jwt} end`)).toBe('token [jwt] end');
    expect(redact('x'.repeat(63))).toBe('x'.repeat(63));
    expect(redact('x'.repeat(64))).toBe('[opaque]');
    const digest = 'ab'.repeat(32);
    expect(redact(digest)).toBe(digest);
    // Short strings with a JWT's start are still looked at: the fast path must not skip them.
    expect(redact('eyJabcd..')).toBe('[jwt]');
    expect(redact('val-0001')).toBe('val-0001');
  });

  it('drops string fields named like secrets, whatever their length', () => {
    expect(redact({ password: 'hunter2', keyFingerprint: 'fp', grant: 'g', validator: 'v' })).toEqual({ password: '[REDACTED]', keyFingerprint: 'fp', grant: '[REDACTED]', validator: 'v' });
  });
});
