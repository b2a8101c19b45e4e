// Ledger entries as the cloud state stores keep them (a JSON string beside
// a few indexable fields), checked on the way back in: a store's answer is
// untrusted. Also the one definition of audit order, (time, chain, seq), so
// every store pages exactly as the SQLite reference does.

import { z } from 'zod';
import { parseCheckpoint } from '../core/checkpoints';
import type { Action } from '../core/designation';
import { podDetailFields } from '../core/pseudonyms';
import type { LedgerEntry } from '../core/ledger';
import type { LedgerQuery, StoredCheckpoint } from '../ports';
import { StoreError } from '../ports';
import type { CursorPosition } from './ledger-cursor';

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const entrySchema = z.object({
  chain: z.string(),
  seq: z.number().int().positive(),
  time: z.number().int(),
  actor: z.string(),
  action: z.string(),
  validator: z.string().nullable(),
  epoch: z.number().int().nullable(),
  slot: z.string().nullable(),
  reason: z.string().nullable(),
  details: z.record(z.string(), scalar),
  prevHash: z.string(),
  hash: z.string(),
});

export const encodeCheckpoint = (c: StoredCheckpoint): string => JSON.stringify(c);

/** A stored body in parts of at most `size` bytes, for stores whose items are smaller than a checkpoint of a fleet. */
export const partsOf = (body: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(body.length / size) }, (_, i) => body.subarray(i * size, (i + 1) * size));

export function decodeCheckpoint(store: string, json: unknown): StoredCheckpoint {
  let parsed: unknown;
  try {
    parsed = typeof json === 'string' ? JSON.parse(json) : json;
  } catch (e) {
    throw new StoreError(store, 'a stored checkpoint is malformed', { cause: e });
  }
  const c = parseCheckpoint(parsed);
  if (!c) throw new StoreError(store, 'a stored checkpoint is malformed');
  return c;
}

export const encodeEntry = (e: LedgerEntry): string => JSON.stringify(e);

export function parseEntry(store: string, json: unknown): LedgerEntry {
  try {
    const parsed = entrySchema.parse(typeof json === 'string' ? JSON.parse(json) : json);
    return { ...parsed, action: parsed.action as Action };
  } catch (e) {
    throw new StoreError(store, 'a stored ledger entry is malformed', { cause: e });
  }
}

/**
 * Chain names reach keys and document ids, and the sortable keys below rely
 * on every chain character sorting after '#'. Validator ids and the broker
 * chain (`_broker`) all qualify; anything else is a caller's bug.
 */
const chainPattern = /^[A-Za-z0-9._-]{1,64}$/;
export function checkChainName(chain: string): void {
  if (!chainPattern.test(chain)) throw new TypeError(`ledger chain name not storable: ${JSON.stringify(chain)}`);
}

const pad = (n: number, width: number): string => {
  if (!Number.isSafeInteger(n) || n < 0 || String(n).length > width) throw new TypeError(`cannot order ${n} in ${width} digits`);
  return String(n).padStart(width, '0');
};
export const padTime = (t: number): string => pad(t, 15);
export const padSeq = (s: number): string => pad(s, 12);

/**
 * A string whose byte order equals (time, chain, seq) order as SQLite compares
 * the tuple: fixed-width numbers, and a separator that sorts before every
 * chain character so a chain that is a prefix of another still sorts first.
 */
export const orderKey = (p: CursorPosition): string => `${padTime(p.time)}#${p.chain}#${padSeq(p.seq)}`;

/** Byte order of UTF-8, as SQLite's BINARY collation compares text (JS `<` compares UTF-16 units). */
export const compareText = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export const compareEntries = (a: CursorPosition, b: CursorPosition): number =>
  a.time - b.time || compareText(a.chain, b.chain) || a.seq - b.seq;

export const mentionsPod = (e: LedgerEntry, pod: string): boolean => e.actor === `pod:${pod}` || podDetailFields.some((k) => e.details[k] === pod);

/** The query's filters except the cursor, for stores that filter on the client side. */
export function matchesQuery(e: LedgerEntry, q: LedgerQuery): boolean {
  return (
    (q.validator === undefined || e.validator === q.validator) &&
    (q.actor === undefined || e.actor === q.actor) &&
    (q.epoch === undefined || e.epoch === q.epoch) &&
    (q.pod === undefined || mentionsPod(e, q.pod)) &&
    (q.chain === undefined || e.chain === q.chain) &&
    (q.slot === undefined || e.slot === q.slot) &&
    (q.action === undefined || e.action === q.action) &&
    (q.since === undefined || e.time >= q.since) &&
    (q.until === undefined || e.time < q.until)
  );
}
