// The broker's only logger. Lines are JSON and public: fields are copied
// through a redactor that drops anything that could be a secret (Secret
// objects, JWTs, JWEs, long base64) and reduces errors to their name and code.

import { isKeyholdError } from './core/errors';
import { Secret } from './core/key-material';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

const jwtLike = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;
const longOpaque = /[A-Za-z0-9+/_=-]{64,}/g;

function redactString(s: string): string {
  // Neither pattern can match: a JWT starts "eyJ", an opaque run is 64 long. Most fields (ids, slots, codes) stop here.
  if (s.length < 64 && !s.includes('eyJ')) return s;
  return s.replace(jwtLike, '[jwt]').replace(longOpaque, (m) => (/^[0-9a-f]{64}$/.test(m) ? m : '[opaque]'));
}

export function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Secret) return '[REDACTED]';
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (value instanceof Error) {
    const code = isKeyholdError(value) ? value.code : (value as { code?: unknown }).code;
    return { error: value.name, ...(typeof code === 'string' ? { code } : {}) };
  }
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[deep]';
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = /password|secret|private|token|grant|key(?!Fingerprint|Store|Format|Version)|material|files|jwe|authorization/i.test(k) && typeof v === 'string'
      ? '[REDACTED]'
      : redact(v, depth + 1);
  }
  return out;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l), minLevel: LogLevel = 'info', now: () => number = Date.now): Logger {
  const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return {
    log(level, event, fields = {}) {
      if (rank[level] < rank[minLevel]) return;
      write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, event, ...(redact(fields) as object) })}\n`);
    },
  };
}

/** Collects lines in memory: tests assert that no key bytes ever reach a log. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const inner = jsonLogger((l) => lines.push(l), 'debug', () => 0);
  return { lines, log: inner.log };
}
