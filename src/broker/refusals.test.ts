import { describe, expect, it } from 'vitest';
import type { LedgerDraft } from '../core/ledger';
import { RefusalLedger } from './refusals';

const refusal = (time: number, actor = 'pod:a', reason = 'not_designated'): LedgerDraft => ({
  chain: 'v1', time, actor, action: 'denied', validator: 'v1', epoch: 1, slot: 'eu1/validators/v1-0', reason, details: {},
});

describe('RefusalLedger', () => {
  it('writes the first refusal, counts the rest, and writes a count once per period', () => {
    const r = new RefusalLedger({ summaryMs: 100, maxWindows: 10 });
    expect(r.admit(refusal(0), 5).entries).toEqual([refusal(0)]);
    expect(r.admit(refusal(50), 5).entries).toEqual([]);
    expect(r.admit(refusal(99), 5).entries).toEqual([]);
    const [count] = r.admit(refusal(100), 5).entries;
    expect(count).toMatchObject({ action: 'refusals_repeated', reason: 'not_designated', chain: 'v1', time: 100, details: { of: 'denied', count: 3, since: 0, until: 100, notBefore: 5 } });
    expect(r.admit(refusal(150), 5).entries).toEqual([]);
    // Another reason, pod or notBefore is another window.
    expect(r.admit(refusal(151, 'pod:a', 'stale_epoch'), 5).entries).toHaveLength(1);
    expect(r.admit(refusal(152, 'pod:b'), 5).entries).toHaveLength(1);
    expect(r.admit(refusal(153), 6).entries).toHaveLength(1);
  });

  it('undoes a refusal whose commit failed, so the next is written in full or counted again', () => {
    const r = new RefusalLedger({ summaryMs: 100, maxWindows: 10 });
    r.admit(refusal(0), null).undo();
    expect(r.admit(refusal(1), null).entries).toEqual([refusal(1)]);
    r.admit(refusal(2), null);
    r.admit(refusal(200), null).undo();
    expect(r.admit(refusal(201), null).entries[0]).toMatchObject({ details: { count: 3, since: 1 } });
  });

  it('summarises the oldest window when it must make room, and settles a pod\'s counts with its next decision', () => {
    const r = new RefusalLedger({ summaryMs: 1000, maxWindows: 2 });
    r.admit(refusal(0, 'pod:a'), null);
    r.admit(refusal(1, 'pod:a'), null);
    r.admit(refusal(2, 'pod:b'), null);
    const plan = r.admit(refusal(3, 'pod:c'), null);
    expect(plan.evicted).toEqual([expect.objectContaining({ actor: 'pod:a', details: expect.objectContaining({ count: 1 }) })]);
    expect(r.size).toBe(2);
    r.admit(refusal(4, 'pod:b'), null);
    expect(r.settle('v1', 'pod:b', 5)).toEqual([expect.objectContaining({ actor: 'pod:b', time: 5, details: expect.objectContaining({ count: 1 }) })]);
    expect(r.settle('v1', 'pod:c', 6)).toEqual([]);
    expect(r.size).toBe(0);
  });
});
