// EIP-3076 interchanges for tests: generated keys and roots (never a real
// validator's), the EIP's published JSON schema, and the watermarks a
// signer importing an interchange must respect (conditions 2, 4 and 5 read
// with the minimal strategy: the highest of each).

import { randomBytes } from 'node:crypto';
import Ajv from 'ajv';

export const randomPubkey = (): string => `0x${randomBytes(48).toString('hex')}`;
export const randomRoot = (): string => `0x${randomBytes(32).toString('hex')}`;

export interface BlockEntry {
  slot: string;
  signing_root?: string;
}
export interface AttestationEntry {
  source_epoch: string;
  target_epoch: string;
  signing_root?: string;
}
export interface DataEntry {
  pubkey: string;
  signed_blocks: BlockEntry[];
  signed_attestations: AttestationEntry[];
}
export interface Interchange {
  metadata: { interchange_format_version: string; genesis_validators_root: string; interchange_format?: string };
  data: DataEntry[];
}

export const interchangeOf = (root: string, data: DataEntry[], version = '5'): Interchange => ({
  metadata: { interchange_format_version: version, genesis_validators_root: root, ...(version === '4' ? { interchange_format: 'complete' } : {}) },
  data,
});

/** The JSON schema of EIP-3076, section "JSON Schema", as published. */
const eip3076Schema = {
  title: 'Signing history',
  type: 'object',
  properties: {
    metadata: {
      type: 'object',
      properties: { interchange_format_version: { type: 'string' }, genesis_validators_root: { type: 'string' } },
      required: ['interchange_format_version', 'genesis_validators_root'],
    },
    data: {
      type: 'array',
      items: [
        {
          type: 'object',
          properties: {
            pubkey: { type: 'string' },
            signed_blocks: { type: 'array', items: [{ type: 'object', properties: { slot: { type: 'string' }, signing_root: { type: 'string' } }, required: ['slot'] }] },
            signed_attestations: {
              type: 'array',
              items: [{ type: 'object', properties: { source_epoch: { type: 'string' }, target_epoch: { type: 'string' }, signing_root: { type: 'string' } }, required: ['source_epoch', 'target_epoch'] }],
            },
          },
          required: ['pubkey', 'signed_blocks', 'signed_attestations'],
        },
      ],
    },
  },
  required: ['metadata', 'data'],
};

const validate = new Ajv({ strictTuples: false }).compile(eip3076Schema);

/**
 * Valid version 5 by the published schema, and by its text where the schema is
 * loose (the draft-07 tuple form checks only a first item): every item,
 * uint64 decimal strings, 48-byte keys, 32-byte roots, source <= target.
 */
export function assertValidV5(text: string, root: string): Interchange {
  const v = JSON.parse(text) as Interchange;
  if (!validate(v)) throw new Error(`not EIP-3076: ${JSON.stringify(validate.errors)}`);
  if (v.metadata.interchange_format_version !== '5') throw new Error('not version 5');
  if (v.metadata.genesis_validators_root !== root) throw new Error('wrong genesis_validators_root');
  const u64 = (s: string) => /^(0|[1-9][0-9]{0,19})$/.test(s) && BigInt(s) < 1n << 64n;
  for (const d of v.data) {
    if (!/^0x[0-9a-f]{96}$/.test(d.pubkey)) throw new Error(`bad pubkey ${d.pubkey}`);
    for (const b of d.signed_blocks) if (!u64(b.slot)) throw new Error(`bad slot ${b.slot}`);
    for (const a of d.signed_attestations) {
      if (!u64(a.source_epoch) || !u64(a.target_epoch)) throw new Error('bad epoch');
      if (BigInt(a.source_epoch) > BigInt(a.target_epoch)) throw new Error('source above target');
    }
  }
  if (new Set(v.data.map((d) => d.pubkey)).size !== v.data.length) throw new Error('a key appears twice');
  return v;
}

export interface Marks {
  block: bigint | null;
  source: bigint | null;
  target: bigint | null;
}

const hi = (a: bigint | null, b: bigint): bigint => (a === null || b > a ? b : a);

/** Per key (lower-case), the highest block slot, attestation source and target in any of the interchanges. */
export function watermarks(...all: Interchange[]): Map<string, Marks> {
  const out = new Map<string, Marks>();
  for (const i of all) {
    for (const d of i.data) {
      const k = d.pubkey.toLowerCase();
      const m = out.get(k) ?? { block: null, source: null, target: null };
      for (const b of d.signed_blocks) m.block = hi(m.block, BigInt(b.slot));
      for (const a of d.signed_attestations) {
        m.source = hi(m.source, BigInt(a.source_epoch));
        m.target = hi(m.target, BigInt(a.target_epoch));
      }
      out.set(k, m);
    }
  }
  return out;
}

/** Every watermark of `before` is kept (equal or higher) in `after`. */
export function keepsWatermarks(after: Map<string, Marks>, before: Map<string, Marks>): string | null {
  for (const [k, b] of before) {
    const a = after.get(k);
    for (const f of ['block', 'source', 'target'] as const) {
      if (b[f] === null) continue;
      if (!a || a[f] === null || a[f]! < b[f]!) return `${k} ${f}: had ${b[f]}, now ${a?.[f] ?? 'none'}`;
    }
  }
  return null;
}
