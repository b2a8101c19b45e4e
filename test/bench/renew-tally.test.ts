import { describe, expect, it } from 'vitest';
import { isLoadRefusal, RenewTotals, tallyRenewAnswer } from './renew-tally';

const refusedEntry = (validator: string | null, code: string, status: number) => ({ validator, outcome: 'refused', status, code, message: 'x' });
const renewedEntry = (validator: string, grant: string) => ({ validator, outcome: 'renewed', slot: `local/validators/${validator}-0`, grant, epoch: 1, expiresAt: '2026-01-01T00:00:00.000Z' });

describe('counting renewals from the broker answers', () => {
  it('counts a single renewal answered 200 with its new grant', () => {
    expect(tallyRenewAnswer(200, JSON.stringify({ validator: 'v1', grant: 'g2' }), 1, false)).toEqual({ renewed: 1, refused: {}, grants: ['g2'] });
  });

  it('counts a refused single renewal by its code, not as renewed', () => {
    expect(tallyRenewAnswer(409, JSON.stringify({ code: 'stale_epoch', message: 'x' }), 1, false)).toEqual({ renewed: 0, refused: { stale_epoch: 1 }, grants: [null] });
  });

  it('counts each validator of a list answered 200, so refused entries are not renewals', () => {
    const body = JSON.stringify({ results: [renewedEntry('v1', 'a'), refusedEntry('v2', 'stale_epoch', 409), renewedEntry('v3', 'c'), refusedEntry(null, 'invalid_grant', 401)] });
    expect(tallyRenewAnswer(200, body, 4, true)).toEqual({ renewed: 2, refused: { stale_epoch: 1, invalid_grant: 1 }, grants: ['a', null, 'c', null] });
  });

  it('counts a whole list refused at once (503) as that many refused validators', () => {
    expect(tallyRenewAnswer(503, JSON.stringify({ code: 'state_store_unavailable', message: 'x' }), 100, true)).toMatchObject({ renewed: 0, refused: { state_store_unavailable: 100 } });
  });

  it('does not trust an answer that is not the API shape', () => {
    expect(tallyRenewAnswer(200, 'not json', 3, true).refused).toEqual({ transport: 3 });
    expect(tallyRenewAnswer(200, JSON.stringify({ results: [renewedEntry('v1', 'a')] }), 2, true).refused).toEqual({ transport: 2 });
    expect(tallyRenewAnswer(200, JSON.stringify({ results: [{ outcome: 'renewed' }] }), 1, true)).toMatchObject({ renewed: 0, refused: { transport: 1 } });
    expect(tallyRenewAnswer(200, JSON.stringify({}), 1, false).refused).toEqual({ transport: 1 });
  });
});

describe('renewal totals', () => {
  it('separates refusals the load explains from those that mean the fleet is wrong', () => {
    const t = new RenewTotals();
    t.add({ renewed: 98, refused: { state_store_unavailable: 2 }, grants: [] });
    t.add({ renewed: 0, refused: { stale_epoch: 1 }, grants: [] });
    t.addUnanswered(2, 100);
    expect(t).toMatchObject({ renewed: 98, requests: 4 });
    expect(t.refused).toEqual({ state_store_unavailable: 2, stale_epoch: 1, unanswered: 200 });
    expect(t.refusedTotal).toBe(203);
    expect(t.notFromLoad()).toEqual({ stale_epoch: 1 });
  });

  it('treats only overload codes as the load', () => {
    expect(isLoadRefusal('state_store_unavailable')).toBe(true);
    expect(isLoadRefusal('broker_unavailable')).toBe(true);
    for (const code of ['stale_epoch', 'invalid_grant', 'not_designated', 'internal', 'transport']) expect(isLoadRefusal(code)).toBe(false);
  });
});
