// Invariant 7 through the HTTP app: every stop (release, or a fenced holder's
// acknowledgement) hands back an EIP-3076 interchange; the broker keeps it only
// when it is this validator's, on this chain; and every next holder receives a
// valid interchange that keeps every watermark handed back before, and is told
// how its predecessor ended.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { takeoverWaitMs } from '../../src/core/horizon';
import { testBroker, testGenesisRoot, testTiming, type TestBroker } from '../support/fixtures';
import { assertValidV5, interchangeOf, keepsWatermarks, randomPubkey, randomRoot, watermarks, type DataEntry, type Interchange } from '../support/interchange';
import { decryptKey, fetchGrant, importValidator, pod, promote, release, slot0, slot1, type TestPod } from './helpers';

const takeoverWait = takeoverWaitMs(testTiming);

interface Holder {
  readonly pod: TestPod;
  readonly slot: string;
  readonly grant: string;
}

interface Granted extends Holder {
  readonly predecessor: string;
  /** The interchange delivered with the key, null when there was none. */
  readonly history: Interchange | null;
}

async function admit(b: TestBroker, slot: string, p?: TestPod): Promise<Granted> {
  const who = p ?? (await pod(slot));
  const res = await fetchGrant(b, who);
  if (res.status !== 201) throw new Error(`fetch: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { grant: string; key: string; predecessor: string };
  const plain = await decryptKey(body.key, who.privateKey);
  return { pod: who, slot, grant: body.grant, predecessor: body.predecessor, history: plain.slashingProtection === null ? null : assertValidV5(plain.slashingProtection, testGenesisRoot) };
}

async function ledgerOf(b: TestBroker) {
  return b.parts.state.readChain('v1', 1, 1000);
}

type Kind = 'valid' | 'foreign' | 'wrong_root' | 'v4_lodestar' | 'none';

/** What a stopping holder hands back: its own key's history (valid), or one the broker must refuse. */
function upload(kind: Kind, pubkey: string, data: DataEntry[]): Interchange | undefined {
  const mine = data.map((d) => ({ ...d, pubkey }));
  switch (kind) {
    case 'valid':
      return interchangeOf(testGenesisRoot, mine);
    case 'v4_lodestar': {
      const marker = (s: string) => ({ pubkey: `0x${Buffer.from(s).toString('hex')}`, signed_blocks: [], signed_attestations: [] });
      return interchangeOf(testGenesisRoot, [marker('GENESIS_TIME'), ...mine, marker('GENESIS_VALIDATORS_ROOT')], '4');
    }
    case 'foreign':
      return interchangeOf(testGenesisRoot, [...mine, { pubkey: randomPubkey(), signed_blocks: [{ slot: '1' }], signed_attestations: [] }]);
    case 'wrong_root':
      return interchangeOf(randomRoot(), mine);
    case 'none':
      return undefined;
  }
}

const kept = (k: Kind) => k === 'valid' || k === 'v4_lodestar';

describe('slashing history across handoffs', () => {
  it('the first holder is told there was none, and gets no interchange', async () => {
    const b = await testBroker();
    await importValidator(b);
    const first = await admit(b, slot0);
    expect(first.predecessor).toBe('none');
    expect(first.history).toBeNull();
  });

  it('a fenced holder\'s acknowledgement carries its history to the promoted pod, once', async () => {
    const b = await testBroker();
    const gen = await importValidator(b);
    const a = await admit(b, slot0);
    const released = interchangeOf(testGenesisRoot, [{ pubkey: gen.publicId, signed_blocks: [{ slot: '100' }], signed_attestations: [{ source_epoch: '10', target_epoch: '11' }] }]);
    expect((await release(b, a.pod, a.grant, released)).status).toBe(200);
    const a2 = await admit(b, slot0);
    expect(a2.predecessor).toBe('released');
    await promote(b, slot1);
    // It signed on after its import: a block and attestations out of order, with and without signing roots.
    const since = interchangeOf(testGenesisRoot, [
      {
        pubkey: gen.publicId,
        signed_blocks: [{ slot: '130', signing_root: `0x${'01'.repeat(32)}` }, { slot: '120' }],
        signed_attestations: [{ source_epoch: '14', target_epoch: '15' }, { source_epoch: '12', target_epoch: '13', signing_root: `0x${'02'.repeat(32)}` }],
      },
    ]);
    const ack = await release(b, a2.pod, a2.grant, since);
    expect(await ack.json()).toEqual({ outcome: 'acknowledged', epoch: 3, slashingProtection: 'stored', stop: 'proven' });
    const before = (await b.parts.state.getValidator('v1'))!;
    // The stale epoch's word counts once: a second acknowledgement writes nothing.
    const again = await release(b, a2.pod, a2.grant, interchangeOf(testGenesisRoot, [{ pubkey: gen.publicId, signed_blocks: [{ slot: '999' }], signed_attestations: [] }]));
    expect(await again.json()).toEqual({ outcome: 'already_acknowledged', epoch: 3, slashingProtection: 'none' });
    expect((await b.parts.state.getValidator('v1'))!.version).toBe(before.version);
    const standby = await admit(b, slot1);
    expect(standby.predecessor).toBe('acknowledged');
    expect(watermarks(standby.history!).get(gen.publicId)).toEqual({ block: 130n, source: 14n, target: 15n });
    const acks = (await ledgerOf(b)).filter((e) => e.action === 'fenced_ack');
    expect(acks.map((e) => e.details.slashingProtection)).toEqual(['stored']);
  });

  it('an interchange of another chain is not kept: the answer and the ledger say so, the stop still counts, and the successor is told unproven', async () => {
    const b = await testBroker();
    const gen = await importValidator(b);
    const a = await admit(b, slot0);
    await promote(b, slot1);
    const ack = await release(b, a.pod, a.grant, interchangeOf(randomRoot(), [{ pubkey: gen.publicId, signed_blocks: [{ slot: '5' }], signed_attestations: [] }]));
    expect(ack.status).toBe(200);
    expect(await ack.json()).toEqual({ outcome: 'acknowledged', epoch: 2, slashingProtection: 'refused', slashingProtectionCode: 'interchange_genesis_mismatch', stop: 'proven' });
    const standby = await admit(b, slot1);
    expect(standby.predecessor).toBe('unproven');
    expect(standby.history).toBeNull();
    const entry = (await ledgerOf(b)).find((e) => e.action === 'fenced_ack')!;
    expect(entry).toMatchObject({ reason: 'interchange_genesis_mismatch', details: { slashingProtection: 'refused', slashingProtectionCode: 'interchange_genesis_mismatch' } });
  });

  it('any JSON that is not an interchange is refused as malformed, and the release still counts', async () => {
    const b = await testBroker();
    await importValidator(b);
    for (const [i, junk] of (['not an interchange', [1, 2], 42] as unknown[]).entries()) {
      const a = await admit(b, slot0);
      const res = await release(b, a.pod, a.grant, junk);
      expect(await res.json()).toEqual({ outcome: 'released', epoch: i + 1, slashingProtection: 'refused', slashingProtectionCode: 'interchange_malformed' });
    }
    expect((await admit(b, slot0)).predecessor).toBe('unproven');
  });

  it('a crashed holder\'s successor waits out the horizon and is told unproven, with the history kept before', async () => {
    const b = await testBroker();
    const gen = await importValidator(b);
    const a = await admit(b, slot0);
    await release(b, a.pod, a.grant, interchangeOf(testGenesisRoot, [{ pubkey: gen.publicId, signed_blocks: [{ slot: '7' }], signed_attestations: [] }]));
    await admit(b, slot0);
    const next = await pod(slot0);
    expect((await fetchGrant(b, next)).status).toBe(425);
    b.clock.advance(takeoverWait);
    const granted = await admit(b, slot0, next);
    expect(granted.predecessor).toBe('unproven');
    expect(watermarks(granted.history!).get(gen.publicId)).toEqual({ block: 7n, source: null, target: null });
  });

  it('imports eip2335 material only with a genesis validators root, and never changes it', async () => {
    const b = await testBroker();
    const { generatedKeyMaterial } = await import('../support/fixtures');
    const { operatorHeaders } = await import('./helpers');
    const gen = generatedKeyMaterial();
    const files = Object.fromEntries([...gen.material.files].map(([n, s]) => [n, Buffer.from(s.reveal()).toString('base64')]));
    const put = async (extra: object) => {
      const path = '/v1/validators/v1/key';
      const body = JSON.stringify({ format: 'eip2335', publicId: gen.publicId, files, slots: [slot0], serviceAccounts: ['validator'], ...extra });
      return b.app.request(path, { method: 'PUT', headers: await operatorHeaders(b, 'PUT', path, body), body });
    };
    const missing = await put({});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ code: 'genesis_validators_root_required' });
    expect(await b.parts.state.getValidator('v1')).toBeNull();
    expect((await put({ genesisValidatorsRoot: '0x1234' })).status).toBe(400);
    const ok = await put({ genesisValidatorsRoot: testGenesisRoot.toUpperCase().replace('0X', '0x') });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ genesisValidatorsRoot: testGenesisRoot, predecessor: 'none' });
    const other = await put({ genesisValidatorsRoot: randomRoot() });
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ code: 'genesis_validators_root_mismatch' });
  });
});

describe('slashing history across handoffs, property', () => {
  const u64 = fc.bigInt({ min: 0n, max: 5000n }).map(String);
  const root = fc.option(fc.constant(`0x${'cd'.repeat(32)}`), { nil: undefined });
  const entry = fc.record({
    signed_blocks: fc.array(fc.record({ slot: u64, signing_root: root }, { requiredKeys: ['slot'] }), { maxLength: 3 }),
    signed_attestations: fc.array(fc.record({ source_epoch: u64, target_epoch: u64, signing_root: root }, { requiredKeys: ['source_epoch', 'target_epoch'] }), { maxLength: 3 }),
  });
  const step = fc.record({
    how: fc.constantFrom('release', 'promote_ack', 'takeover_ack', 'crash'),
    kind: fc.constantFrom<Kind>('valid', 'valid', 'v4_lodestar', 'foreign', 'wrong_root', 'none'),
    // Duplicate entries of the key in one upload.
    data: fc.array(entry, { minLength: 1, maxLength: 2 }),
  });

  it('after every release and acknowledgement the next holder receives valid EIP-3076 keeping every earlier watermark', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
        const b = await testBroker();
        try {
          const gen = await importValidator(b);
          let holder = await admit(b, slot0);
          const keptSoFar: Interchange[] = [];
          for (const s of steps) {
            const sent = upload(s.kind, gen.publicId, s.data.map((d) => ({ pubkey: gen.publicId, ...d }) as DataEntry));
            let next: Granted;
            if (s.how === 'crash') {
              const p = await pod(holder.slot);
              expect((await fetchGrant(b, p)).status).toBe(425);
              b.clock.advance(takeoverWait);
              next = await admit(b, holder.slot, p);
              expect(next.predecessor).toBe('unproven');
            } else {
              let successor: TestPod;
              let slot = holder.slot;
              if (s.how === 'release') {
                successor = await pod(slot);
                const res = await release(b, holder.pod, holder.grant, sent);
                expect(await res.json()).toMatchObject({ outcome: 'released', slashingProtection: sent === undefined ? 'none' : kept(s.kind) ? 'stored' : 'refused' });
              } else {
                if (s.how === 'promote_ack') {
                  slot = holder.slot === slot0 ? slot1 : slot0;
                  expect((await promote(b, slot)).status).toBe(200);
                }
                successor = await pod(slot);
                if (s.how === 'takeover_ack') expect((await fetchGrant(b, successor)).status).toBe(425);
                const res = await release(b, holder.pod, holder.grant, sent);
                expect(await res.json()).toMatchObject({ outcome: 'acknowledged', slashingProtection: sent === undefined ? 'none' : kept(s.kind) ? 'stored' : 'refused' });
              }
              next = await admit(b, slot, successor);
              const expected = kept(s.kind) ? (s.how === 'release' ? 'released' : 'acknowledged') : 'unproven';
              expect(next.predecessor).toBe(expected);
              if (kept(s.kind)) keptSoFar.push(sent!);
            }
            if (keptSoFar.length === 0) expect(next.history).toBeNull();
            else expect(keepsWatermarks(watermarks(next.history!), watermarks(...keptSoFar))).toBeNull();
            holder = next;
          }
        } finally {
          await b.close();
        }
      }),
      { numRuns: 8 },
    );
  }, 120_000);
});
