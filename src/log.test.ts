import { describe, expect, it } from 'vitest';
import { coalescedWriter, jsonLogger, redact } from './log';

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

describe('coalescedWriter', () => {
  it('writes the lines of one turn as one chunk, in order, when the turn ends', () => {
    const chunks: string[] = [];
    let scheduled: (() => void) | undefined;
    const w = coalescedWriter((c) => chunks.push(c), (f) => (scheduled = f));
    w.write('a\n');
    w.write('b\n');
    expect(chunks).toEqual([]);
    scheduled!();
    expect(chunks).toEqual(['a\nb\n']);
    w.write('c\n');
    scheduled!();
    expect(chunks).toEqual(['a\nb\n', 'c\n']);
  });

  it('flush writes what is pending at once (exit), and nothing when nothing is', () => {
    const chunks: string[] = [];
    const w = coalescedWriter((c) => chunks.push(c), () => undefined);
    w.flush();
    expect(chunks).toEqual([]);
    w.write('last\n');
    w.flush();
    expect(chunks).toEqual(['last\n']);
  });

  it('under a logger, a turn of lines reaches the stream once setImmediate runs', async () => {
    const chunks: string[] = [];
    const w = coalescedWriter((c) => chunks.push(c));
    const log = jsonLogger(w.write, 'info', () => 0);
    log.log('info', 'one');
    log.log('info', 'two');
    await new Promise((r) => setImmediate(r));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['one', 'two']);
  });
});

describe('the process logger', () => {
  it('a line logged just before process.exit still reaches stderr', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = "const { jsonLogger, coalescedStderr } = await import('./src/log.ts'); jsonLogger(coalescedStderr()).log('error', 'last_words', { code: 'x' }); process.exit(3);";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('"event":"last_words"');
  });
});
