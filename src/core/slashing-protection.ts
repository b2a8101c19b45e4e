// EIP-3076 slashing-protection interchange (https://eips.ethereum.org/EIPS/eip-3076):
// what a holder hands back when it stops, checked against the validator it
// claims to be for, and merged into what the broker holds by the EIP's
// minimal strategy ("take the maximum slot block and maximum source and
// target attestations for each validator ... and merge them with any
// existing values"), so that no handoff can lower a watermark. Pure.

/** Why an interchange was not kept; stable, public, safe to ledger. */
export type InterchangeProblem =
  /** Not the EIP-3076 shape: a field missing, a number not a decimal string, a key or root not hex of its length. */
  | 'interchange_malformed'
  /** Neither version 5 nor Lodestar's version 4 "complete" export. */
  | 'interchange_version'
  /** Names a public key other than this validator's. */
  | 'interchange_foreign_key'
  /** Made on another chain than the one recorded for the validator at import. */
  | 'interchange_genesis_mismatch'
  /** The validator has no genesis validators root recorded, so no interchange can be checked. */
  | 'interchange_genesis_unknown';

export const interchangeProblems: readonly InterchangeProblem[] = [
  'interchange_malformed',
  'interchange_version',
  'interchange_foreign_key',
  'interchange_genesis_mismatch',
  'interchange_genesis_unknown',
];

/** The highest of each kind of message a key has signed; null: none seen. */
export interface Watermark {
  readonly blockSlot: bigint | null;
  readonly sourceEpoch: bigint | null;
  readonly targetEpoch: bigint | null;
}

/** An interchange reduced to what the minimal strategy keeps. Keys are 0x-prefixed lower-case hex. */
export interface SigningHistory {
  readonly genesisValidatorsRoot: string;
  readonly keys: ReadonlyMap<string, Watermark>;
}

export interface InterchangeExpectation {
  /** The validator's recorded root (0x + 64 hex), or null when none was recorded. */
  readonly genesisValidatorsRoot: string | null;
  /** Whether a (normalised) public key is this validator's. */
  readonly isOwnKey: (pubkey: string) => boolean;
}

export type InterchangeRead = { readonly ok: true; readonly history: SigningHistory } | { readonly ok: false; readonly code: InterchangeProblem };

const uint64Max = (1n << 64n) - 1n;
const pubkeyHex = /^0x[0-9a-fA-F]{96}$/;
const rootHex = /^0x[0-9a-fA-F]{64}$/;
const decimal = /^[0-9]{1,20}$/;

/** A genesis validators root as the broker keeps it: 0x and 64 lower-case hex digits; null when not one. */
export function normaliseGenesisRoot(s: string): string | null {
  return rootHex.test(s) ? s.toLowerCase() : null;
}

class Malformed extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function uint64(v: unknown): bigint {
  if (typeof v !== 'string' || !decimal.test(v)) throw new Malformed();
  const n = BigInt(v);
  if (n > uint64Max) throw new Malformed();
  return n;
}

function optionalRoot(v: unknown): void {
  if (v !== undefined && v !== null && (typeof v !== 'string' || !rootHex.test(v))) throw new Malformed();
}

const max = (a: bigint | null, b: bigint | null): bigint | null => (a === null ? b : b === null ? a : a > b ? a : b);

function mergeWatermark(a: Watermark | undefined, b: Watermark): Watermark {
  if (!a) return b;
  return { blockSlot: max(a.blockSlot, b.blockSlot), sourceEpoch: max(a.sourceEpoch, b.sourceEpoch), targetEpoch: max(a.targetEpoch, b.targetEpoch) };
}

/** One `data` entry's watermark; null for an entry to drop (see below). */
function readEntry(item: unknown): { pubkey: string; mark: Watermark } | null {
  if (!isObject(item) || typeof item.pubkey !== 'string' || !Array.isArray(item.signed_blocks) || !Array.isArray(item.signed_attestations)) throw new Malformed();
  if (!pubkeyHex.test(item.pubkey)) {
    // Lodestar's export carries entries named GENESIS_TIME and
    // GENESIS_VALIDATORS_ROOT with empty histories: not keys, and nothing to
    // lose by dropping them. A non-key with history is refused.
    if (item.signed_blocks.length === 0 && item.signed_attestations.length === 0) return null;
    throw new Malformed();
  }
  let blockSlot: bigint | null = null;
  for (const b of item.signed_blocks) {
    if (!isObject(b)) throw new Malformed();
    blockSlot = max(blockSlot, uint64(b.slot));
    optionalRoot(b.signing_root);
  }
  let sourceEpoch: bigint | null = null;
  let targetEpoch: bigint | null = null;
  for (const a of item.signed_attestations) {
    if (!isObject(a)) throw new Malformed();
    sourceEpoch = max(sourceEpoch, uint64(a.source_epoch));
    targetEpoch = max(targetEpoch, uint64(a.target_epoch));
    optionalRoot(a.signing_root);
  }
  return { pubkey: item.pubkey.toLowerCase(), mark: { blockSlot, sourceEpoch, targetEpoch } };
}

/**
 * Check an interchange in this order: version, shape, chain, keys. Duplicate
 * entries for one key are merged, as Lighthouse and Teku do (the EIP's test
 * suite accepts them).
 */
export function readInterchange(value: unknown, expect: InterchangeExpectation): InterchangeRead {
  if (!isObject(value) || !isObject(value.metadata)) return { ok: false, code: 'interchange_malformed' };
  const m = value.metadata;
  const version = m.interchange_format_version;
  if (typeof version !== 'string') return { ok: false, code: 'interchange_malformed' };
  if (version !== '5' && !(version === '4' && m.interchange_format === 'complete')) return { ok: false, code: 'interchange_version' };
  if (typeof m.genesis_validators_root !== 'string' || !Array.isArray(value.data)) return { ok: false, code: 'interchange_malformed' };
  const root = normaliseGenesisRoot(m.genesis_validators_root);
  if (root === null) return { ok: false, code: 'interchange_malformed' };
  const keys = new Map<string, Watermark>();
  try {
    for (const item of value.data) {
      const e = readEntry(item);
      if (e) keys.set(e.pubkey, mergeWatermark(keys.get(e.pubkey), e.mark));
    }
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, code: 'interchange_malformed' };
    throw e;
  }
  if (expect.genesisValidatorsRoot === null) return { ok: false, code: 'interchange_genesis_unknown' };
  if (root !== expect.genesisValidatorsRoot.toLowerCase()) return { ok: false, code: 'interchange_genesis_mismatch' };
  for (const k of keys.keys()) if (!expect.isOwnKey(k)) return { ok: false, code: 'interchange_foreign_key' };
  return { ok: true, history: { genesisValidatorsRoot: root, keys } };
}

/** Per key, the highest of each watermark in either. Both must be of one chain (the caller checked it). */
export function mergeHistories(held: SigningHistory | null, incoming: SigningHistory): SigningHistory {
  if (held === null) return incoming;
  if (held.genesisValidatorsRoot !== incoming.genesisValidatorsRoot) throw new TypeError('cannot merge the histories of two chains');
  const keys = new Map(held.keys);
  for (const [k, w] of incoming.keys) keys.set(k, mergeWatermark(keys.get(k), w));
  return { genesisValidatorsRoot: held.genesisValidatorsRoot, keys };
}

/**
 * EIP-3076 version 5, one block and one attestation per key, no signing
 * roots: a signer that imports it refuses every block at or below the slot
 * and every attestation at or below the target or below the source
 * (conditions 2, 4 and 5). A source above the target (seen in the wild, and
 * accepted by the EIP's tests) raises the target to the source, which only
 * ever refuses more.
 */
export function writeInterchange(h: SigningHistory): string {
  const data = [...h.keys.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([pubkey, w]) => ({
      pubkey,
      signed_blocks: w.blockSlot === null ? [] : [{ slot: w.blockSlot.toString() }],
      signed_attestations:
        w.sourceEpoch === null || w.targetEpoch === null ? [] : [{ source_epoch: w.sourceEpoch.toString(), target_epoch: max(w.targetEpoch, w.sourceEpoch)!.toString() }],
    }));
  return JSON.stringify({ metadata: { interchange_format_version: '5', genesis_validators_root: h.genesisValidatorsRoot }, data });
}

/** Read back what `writeInterchange` wrote (the broker's own, stored); null when it is not a valid interchange. */
export function readStoredInterchange(text: string): SigningHistory | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const root = isObject(value) && isObject(value.metadata) && typeof value.metadata.genesis_validators_root === 'string' ? value.metadata.genesis_validators_root : '';
  const read = readInterchange(value, { genesisValidatorsRoot: root, isOwnKey: () => true });
  return read.ok ? read.history : null;
}

/**
 * Keep `incoming` (already read and checked) with what is held: the merged
 * interchange text to store. A held history of another chain (kept before the
 * validator's root was recorded) says nothing about this one: signatures on
 * two chains never conflict, so it is replaced, not merged.
 */
export function mergeInterchange(heldText: string | null, incoming: SigningHistory): string {
  const held = heldText === null ? null : readStoredInterchange(heldText);
  const sameChain = held !== null && held.genesisValidatorsRoot === incoming.genesisValidatorsRoot;
  return writeInterchange(sameChain ? mergeHistories(held, incoming) : incoming);
}
