import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Action } from './designation';
import { effectiveEntries, holdingIntervals, type HoldingEnd, type HoldingInterval } from './holders';
import { sealAll, type LedgerDraft, type LedgerEntry } from './ledger';

const v = 'v1';
const slots = ['eu1/validators/v1-0', 'eu1/validators/v1-1'] as const;

type Op =
  | { kind: 'fetch'; pod: number; slot: 0 | 1 }
  | { kind: 'wait_over' }
  | { kind: 'release' }
  | { kind: 'ack' }
  | { kind: 'stale_ack'; pod: number }
  | { kind: 'promote' }
  | { kind: 'noise'; action: 'denied' | 'renew_refused' | 'store_fallback' }
  | { kind: 'aborted'; pod: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('fetch' as const), pod: fc.integer({ min: 0, max: 5 }), slot: fc.constantFrom(0 as const, 1 as const) }) },
  fc.record({ kind: fc.constant('wait_over' as const) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const) }) },
  fc.record({ kind: fc.constant('stale_ack' as const), pod: fc.integer({ min: 0, max: 5 }) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('promote' as const) }) },
  fc.record({ kind: fc.constant('noise' as const), action: fc.constantFrom('denied' as const, 'renew_refused' as const, 'store_fallback' as const) }),
  fc.record({ kind: fc.constant('aborted' as const), pod: fc.integer({ min: 0, max: 5 }) }),
);

/**
 * A ledger as the broker writes one: a small model of the designation
 * (DESIGN.md's fetch, takeover, release, acknowledgement and promotion),
 * emitting each decision's entry; aborted Vault intents included.
 */
function ledgerFrom(ops: readonly Op[]): LedgerEntry[] {
  let epoch = 1;
  let slot: 0 | 1 = 0;
  let state: 'vacant' | 'held' | 'released' = 'vacant';
  let holder: string | null = null;
  let waiting = false;
  let fenced: { epoch: number; pod: string } | null = null;
  let time = 1_000;
  const drafts: LedgerDraft[] = [];
  const emit = (action: Action, e: number | null, pod: string | null, extra: Partial<LedgerDraft> = {}) =>
    drafts.push({ chain: v, time: (time += 1000), actor: pod ? `pod:${pod}` : 'operator:alice', action, validator: v, epoch: e, slot: slots[slot], reason: null, details: {}, ...extra });
  emit('key_imported', 1, null);
  for (const o of ops) {
    switch (o.kind) {
      case 'fetch': {
        const pod = `p${o.pod}`;
        if (o.slot !== slot) emit('denied', epoch, pod, { slot: slots[o.slot], reason: 'not_designated' });
        else if (state === 'held' && holder === pod) emit(waiting ? 'denied' : 'grant_reissued', epoch, pod);
        else if (state === 'held') {
          fenced = { epoch, pod: holder! };
          epoch += 1;
          holder = pod;
          waiting = true;
          emit('takeover', epoch, pod);
        } else if (waiting) emit('denied', epoch, pod, { reason: 'not_before' });
        else {
          if (state === 'released') epoch += 1;
          state = 'held';
          holder = pod;
          emit('grant_issued', epoch, pod);
        }
        break;
      }
      case 'wait_over':
        waiting = false;
        break;
      case 'release':
        if (state === 'held' && !waiting) {
          emit('released', epoch, holder);
          state = 'released';
          fenced = null;
        }
        break;
      case 'ack':
        if (fenced) {
          emit('fenced_ack', fenced.epoch, fenced.pod);
          fenced = null;
          waiting = false;
        }
        break;
      case 'stale_ack':
        emit('denied', Math.max(1, epoch - 2), `p${o.pod}`, { reason: 'stale_epoch' });
        break;
      case 'promote':
        fenced = state === 'held' ? { epoch, pod: holder! } : null;
        epoch += 1;
        slot = slot === 0 ? 1 : 0;
        state = 'vacant';
        holder = null;
        waiting = fenced !== null;
        emit('promoted', epoch, null);
        break;
      case 'noise':
        emit(o.action, epoch, holder);
        break;
      case 'aborted': {
        // An intent that never took effect: a grant for a later epoch, then the resolver's marker naming it.
        emit('grant_issued', epoch + 1, `p${o.pod}`);
        const seq = drafts.length;
        emit('denied', null, null, { reason: 'intent_aborted', details: { fromSeq: seq, toSeq: seq } });
        break;
      }
    }
  }
  return sealAll(drafts, new Map([[v, null]]));
}

/** Brute force: each epoch on its own, scanning the whole ledger for its first grant and then for what ended it. */
function bruteForce(chain: readonly LedgerEntry[]): HoldingInterval[] {
  const es = effectiveEntries(chain);
  const out: HoldingInterval[] = [];
  const grants = (e: LedgerEntry) => e.action === 'grant_issued' || e.action === 'grant_reissued';
  const epochs = [...new Set(es.filter(grants).map((e) => e.epoch!))];
  for (const epoch of epochs) {
    const k = es.findIndex((e) => grants(e) && e.epoch === epoch);
    const start = es[k]!;
    const pod = start.actor.slice(4);
    let to: number | null = null;
    let ended: HoldingEnd | null = null;
    let j = k + 1;
    for (; j < es.length; j++) {
      const e = es[j]!;
      if (e.action === 'released' && e.epoch === epoch && e.actor === start.actor) [to, ended] = [e.time, 'released'];
      else if (e.action === 'takeover' && e.epoch! > epoch) [to, ended] = [e.time, 'expired'];
      else if ((e.action === 'promoted' || grants(e)) && e.epoch! > epoch) [to, ended] = [e.time, 'fenced'];
      if (ended) break;
    }
    if (ended === 'fenced' || ended === 'expired') {
      const ack = es.slice(j + 1).find((e) => e.action === 'fenced_ack' && e.epoch === epoch && e.actor === start.actor);
      if (ack) [to, ended] = [ack.time, 'acknowledged'];
    }
    out.push({ validator: v, epoch, slot: start.slot!, pod, from: start.time, to, ended });
  }
  return out.sort((a, b) => a.from - b.from);
}

describe('holding intervals', () => {
  it('equal a brute-force replay on random ledgers', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const chain = ledgerFrom(ops);
        expect(holdingIntervals(v, chain)).toEqual(bruteForce(chain));
      }),
      { numRuns: 400 },
    );
  });

  it('never overlap on a ledger the broker could write', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const intervals = holdingIntervals(v, ledgerFrom(ops));
        for (let i = 1; i < intervals.length; i++) expect(intervals[i - 1]!.to).not.toBeNull();
        for (let i = 1; i < intervals.length; i++) expect(intervals[i]!.epoch).toBeGreaterThan(intervals[i - 1]!.epoch);
      }),
      { numRuns: 200 },
    );
  });

  it('tells each way a holding ends', () => {
    const chain = ledgerFrom([
      { kind: 'fetch', pod: 1, slot: 0 },
      { kind: 'release' },
      { kind: 'fetch', pod: 2, slot: 0 },
      { kind: 'fetch', pod: 3, slot: 0 }, // takeover: pod 2 is gone
      { kind: 'wait_over' },
      { kind: 'fetch', pod: 3, slot: 0 },
      { kind: 'promote' }, // pod 3 fenced, then acknowledges
      { kind: 'ack' },
      { kind: 'fetch', pod: 4, slot: 1 },
      { kind: 'promote' }, // pod 4 fenced, silent
      { kind: 'wait_over' },
      { kind: 'fetch', pod: 5, slot: 0 },
    ]);
    expect(holdingIntervals(v, chain).map((i) => [i.pod, i.epoch, i.ended])).toEqual([
      ['p1', 1, 'released'],
      ['p2', 2, 'expired'],
      ['p3', 3, 'acknowledged'],
      ['p4', 4, 'fenced'],
      ['p5', 5, null],
    ]);
    const last = holdingIntervals(v, chain).at(-1)!;
    expect(last).toMatchObject({ to: null, slot: slots[0] });
  });
});
