import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertValidV5, interchangeOf, keepsWatermarks, randomPubkey, randomRoot, watermarks, type DataEntry, type Interchange } from '../../test/support/interchange';
import { mergeInterchange, readInterchange, readStoredInterchange, type InterchangeExpectation } from './slashing-protection';

const root = randomRoot();
const key = randomPubkey();
const own = (k = key, r: string | null = root): InterchangeExpectation => ({ genesisValidatorsRoot: r, isOwnKey: (p) => p === k.toLowerCase() });

/** Read and merge onto `held`, as the broker does on a release. */
function keep(held: string | null, value: unknown, expect = own()): string {
  const r = readInterchange(value, expect);
  if (!r.ok) throw new Error(r.code);
  return mergeInterchange(held, r.history);
}

const code = (value: unknown, expect = own()) => {
  const r = readInterchange(value, expect);
  return r.ok ? 'ok' : r.code;
};

// The example instance of EIP-3076, with this test's key and root.
const example = (): Interchange =>
  interchangeOf(root, [
    {
      pubkey: key,
      signed_blocks: [{ slot: '81952', signing_root: `0x${'4f'.repeat(32)}` }, { slot: '81951' }],
      signed_attestations: [
        { source_epoch: '2290', target_epoch: '3007', signing_root: `0x${'58'.repeat(32)}` },
        { source_epoch: '2290', target_epoch: '3008' },
      ],
    },
  ]);

describe('EIP-3076 interchange', () => {
  it('keeps the highest block slot and attestation source and target of the EIP example', () => {
    const out = assertValidV5(keep(null, example()), root);
    expect(out.data).toEqual([{ pubkey: key, signed_blocks: [{ slot: '81952' }], signed_attestations: [{ source_epoch: '2290', target_epoch: '3008' }] }]);
  });

  it('takes blocks with and without signing roots, and attestations out of order', () => {
    const i = interchangeOf(root, [
      {
        pubkey: key,
        signed_blocks: [{ slot: '7' }, { slot: '12', signing_root: `0x${'01'.repeat(32)}` }, { slot: '3' }],
        signed_attestations: [
          { source_epoch: '5', target_epoch: '6' },
          { source_epoch: '9', target_epoch: '10', signing_root: `0x${'02'.repeat(32)}` },
          { source_epoch: '1', target_epoch: '2' },
        ],
      },
    ]);
    expect(keepsWatermarks(watermarks(assertValidV5(keep(null, i), root)), watermarks(i))).toBeNull();
  });

  it('merges duplicate entries of one key, and never lowers what it holds', () => {
    const dup = interchangeOf(root, [
      { pubkey: key, signed_blocks: [{ slot: '10' }], signed_attestations: [{ source_epoch: '0', target_epoch: '2' }] },
      { pubkey: key.toUpperCase().replace('0X', '0x'), signed_blocks: [{ slot: '4' }], signed_attestations: [{ source_epoch: '1', target_epoch: '3' }] },
    ]);
    const held = keep(null, dup);
    expect(watermarks(assertValidV5(held, root)).get(key)).toEqual({ block: 10n, source: 1n, target: 3n });
    const older = interchangeOf(root, [{ pubkey: key, signed_blocks: [{ slot: '2' }], signed_attestations: [{ source_epoch: '0', target_epoch: '1' }] }]);
    expect(watermarks(assertValidV5(keep(held, older), root)).get(key)).toEqual({ block: 10n, source: 1n, target: 3n });
  });

  it('raises a target below its source to the source, so the output is valid and refuses more, never less', () => {
    const i = interchangeOf(root, [{ pubkey: key, signed_blocks: [], signed_attestations: [{ source_epoch: '8', target_epoch: '7' }] }]);
    const out = assertValidV5(keep(null, i), root);
    expect(out.data[0]!.signed_attestations).toEqual([{ source_epoch: '8', target_epoch: '8' }]);
  });

  it('refuses a foreign key, also beside its own', () => {
    const foreign = randomPubkey();
    expect(code(interchangeOf(root, [{ pubkey: foreign, signed_blocks: [], signed_attestations: [] }]))).toBe('interchange_foreign_key');
    const several = interchangeOf(root, [
      { pubkey: key, signed_blocks: [{ slot: '1' }], signed_attestations: [] },
      { pubkey: foreign, signed_blocks: [{ slot: '2' }], signed_attestations: [] },
    ]);
    expect(code(several)).toBe('interchange_foreign_key');
  });

  it('refuses another chain, and anything when no root is recorded', () => {
    expect(code(interchangeOf(randomRoot(), example().data))).toBe('interchange_genesis_mismatch');
    expect(code(example(), own(key, null))).toBe('interchange_genesis_unknown');
    expect(code(interchangeOf(root.toUpperCase().replace('0X', '0x'), example().data))).toBe('ok');
  });

  it('accepts the version 4 "complete" export of Lodestar, dropping its GENESIS_TIME and GENESIS_VALIDATORS_ROOT entries', () => {
    const hex = (s: string) => `0x${Buffer.from(s).toString('hex')}`;
    const lodestar = interchangeOf(root, [
      { pubkey: hex('GENESIS_TIME'), signed_blocks: [], signed_attestations: [] },
      { pubkey: hex('GENESIS_VALIDATORS_ROOT'), signed_blocks: [], signed_attestations: [] },
      ...example().data,
    ], '4');
    const out = assertValidV5(keep(null, lodestar), root);
    expect(out.data.map((d) => d.pubkey)).toEqual([key]);
    // A non-key with history is not Lodestar's marker: refused.
    expect(code(interchangeOf(root, [{ pubkey: hex('GENESIS_TIME'), signed_blocks: [{ slot: '1' }], signed_attestations: [] }], '4'))).toBe('interchange_malformed');
    expect(code({ ...lodestar, metadata: { ...lodestar.metadata, interchange_format: 'minimal' } })).toBe('interchange_version');
  });

  it.each([
    ['version 3', { ...example(), metadata: { ...example().metadata, interchange_format_version: '3' } }, 'interchange_version'],
    ['version as a number', { ...example(), metadata: { ...example().metadata, interchange_format_version: 5 } }, 'interchange_malformed'],
    ['no data', { metadata: example().metadata }, 'interchange_malformed'],
    ['short root', interchangeOf('0xabcd', example().data), 'interchange_malformed'],
    ['unquoted slot', interchangeOf(root, [{ pubkey: key, signed_blocks: [{ slot: 5 }], signed_attestations: [] }] as unknown as DataEntry[]), 'interchange_malformed'],
    ['negative epoch', interchangeOf(root, [{ pubkey: key, signed_blocks: [], signed_attestations: [{ source_epoch: '-1', target_epoch: '2' }] }]), 'interchange_malformed'],
    ['epoch above uint64', interchangeOf(root, [{ pubkey: key, signed_blocks: [], signed_attestations: [{ source_epoch: '1', target_epoch: '18446744073709551616' }] }]), 'interchange_malformed'],
    ['missing signed_attestations', interchangeOf(root, [{ pubkey: key, signed_blocks: [] }] as unknown as DataEntry[]), 'interchange_malformed'],
    ['short signing root', interchangeOf(root, [{ pubkey: key, signed_blocks: [{ slot: '1', signing_root: '0x01' }], signed_attestations: [] }]), 'interchange_malformed'],
    ['an array', [], 'interchange_malformed'],
  ])('refuses %s', (_name, value, expected) => {
    expect(code(value)).toBe(expected);
  });

  it('keeps the largest uint64 exactly', () => {
    const top = '18446744073709551615';
    const i = interchangeOf(root, [{ pubkey: key, signed_blocks: [{ slot: top }], signed_attestations: [{ source_epoch: top, target_epoch: top }] }]);
    expect(assertValidV5(keep(null, i), root).data[0]).toEqual({ pubkey: key, signed_blocks: [{ slot: top }], signed_attestations: [{ source_epoch: top, target_epoch: top }] });
  });

  it('reads back its own output', () => {
    const out = keep(null, example());
    expect(readStoredInterchange(out)?.keys.get(key)).toEqual({ blockSlot: 81952n, sourceEpoch: 2290n, targetEpoch: 3008n });
    expect(readStoredInterchange('{"metadata":{}}')).toBeNull();
  });

  it('replaces a held history of another chain instead of merging it', () => {
    const other = randomRoot();
    const held = keep(null, interchangeOf(other, [{ pubkey: key, signed_blocks: [{ slot: '900' }], signed_attestations: [] }]), own(key, other));
    const out = assertValidV5(keep(held, example()), root);
    expect(out.data[0]!.signed_blocks).toEqual([{ slot: '81952' }]);
  });
});

describe('EIP-3076 merge, property', () => {
  const keys = [key, randomPubkey(), randomPubkey()];
  const u64 = fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
  const root32 = fc.option(fc.constant(`0x${'ab'.repeat(32)}`), { nil: undefined });
  const entry = fc.record({
    pubkey: fc.constantFrom(...keys),
    signed_blocks: fc.array(fc.record({ slot: u64.map(String), signing_root: root32 }, { requiredKeys: ['slot'] }), { maxLength: 4 }),
    signed_attestations: fc.array(fc.record({ source_epoch: u64.map(String), target_epoch: u64.map(String), signing_root: root32 }, { requiredKeys: ['source_epoch', 'target_epoch'] }), { maxLength: 4 }),
  });
  const upload = fc.tuple(fc.array(entry, { maxLength: 5 }), fc.constantFrom('5', '4')).map(([data, v]) => interchangeOf(root, data as DataEntry[], v));
  const anyKey: InterchangeExpectation = { genesisValidatorsRoot: root, isOwnKey: (p) => keys.includes(p) };

  it('after any sequence of merges every watermark seen so far is kept, none falls, and the output is valid version 5', () => {
    fc.assert(
      fc.property(fc.array(upload, { minLength: 1, maxLength: 8 }), (uploads) => {
        let held: string | null = null;
        const seen: Interchange[] = [];
        for (const u of uploads) {
          const before = held === null ? new Map() : watermarks(JSON.parse(held) as Interchange);
          held = keep(held, u, anyKey);
          seen.push(u);
          const now = watermarks(assertValidV5(held, root));
          expect(keepsWatermarks(now, watermarks(...seen))).toBeNull();
          expect(keepsWatermarks(now, before)).toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('does not depend on the order of the uploads', () => {
    fc.assert(
      fc.property(fc.array(upload, { minLength: 1, maxLength: 5 }), (uploads) => {
        const fold = (list: Interchange[]) => list.reduce<string | null>((h, u) => keep(h, u, anyKey), null);
        expect(fold([...uploads].reverse())).toBe(fold(uploads));
      }),
      { numRuns: 200 },
    );
  });
});
