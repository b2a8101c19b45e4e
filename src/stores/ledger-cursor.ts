// Audit query cursors: the position (time, chain, seq) of the last entry
// served, opaque to clients. A forged cursor can only move the window; it is
// validated so it cannot inject anything into a query.

import { KeyholdError } from '../core/errors';

export interface CursorPosition {
  readonly time: number;
  readonly chain: string;
  readonly seq: number;
}

export const encodeCursor = (p: CursorPosition): string =>
  Buffer.from(JSON.stringify([p.time, p.chain, p.seq])).toString('base64url');

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 3) {
      const [time, chain, seq] = v as unknown[];
      if (Number.isSafeInteger(time) && typeof chain === 'string' && chain.length <= 64 && Number.isSafeInteger(seq)) {
        return { time: time as number, chain, seq: seq as number };
      }
    }
  } catch {
    // fall through to the refusal
  }
  throw new KeyholdError('invalid_request');
}
