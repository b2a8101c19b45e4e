import { describe, expect, it } from 'vitest';
import type { LedgerDraft } from './ledger';
import { pseudonymiseDraft, pseudonymiser } from './pseudonyms';

const key = new Uint8Array(32).fill(7);
const draft: LedgerDraft = {
  chain: 'v1',
  time: 1,
  actor: 'pod:6b1f0c1e-0000-4000-8000-000000000001',
  action: 'takeover',
  validator: 'v1',
  epoch: 2,
  slot: 'eu1/validators/v1-0',
  reason: null,
  details: { supersededPod: '6b1f0c1e-0000-4000-8000-000000000000', approvers: 'operator:alice,operator:bob', notBefore: 5 },
};

describe('ledger pseudonyms', () => {
  it('replaces pod UIDs and operator subjects with keyed hmac-sha256 values, on a copy', () => {
    const p = pseudonymiser(key);
    const out = pseudonymiseDraft(draft, p);
    expect(out.actor).toMatch(/^pod:hmac-sha256:[0-9a-f]{64}$/);
    expect(out.details.supersededPod).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(String(out.details.approvers).split(',')).toEqual([expect.stringMatching(/^operator:hmac-sha256:[0-9a-f]{64}$/), expect.stringMatching(/^operator:hmac-sha256:/)]);
    expect(out.details.notBefore).toBe(5);
    expect(JSON.stringify(out)).not.toMatch(/6b1f0c1e|alice|bob/);
    expect(draft.actor).toBe('pod:6b1f0c1e-0000-4000-8000-000000000001');
  });

  it('is the same value for the same input and key (so it can be matched), another under another key, and never hashed twice', () => {
    const p = pseudonymiser(key);
    expect(p('x')).toBe(p('x'));
    expect(p('x')).not.toBe(p('y'));
    expect(pseudonymiser(new Uint8Array(32).fill(8))('x')).not.toBe(p('x'));
    expect(p(p('x'))).toBe(p('x'));
  });

  it('refuses a short key', () => {
    expect(() => pseudonymiser(new Uint8Array(16))).toThrow(TypeError);
  });
});
