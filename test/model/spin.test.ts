// The Promela model, checked by spin at small bounds (npm run prove uses
// larger ones). No tool means a failure, not a skip: CI installs spin.

import { beforeAll, describe, expect, it } from 'vitest';
import { check, fastChecks, parsePan, requireTools, variants } from './spin';

describe('the protocol model (spin)', () => {
  beforeAll(async () => {
    await requireTools();
  });

  for (const c of fastChecks) {
    it(`has no counterexample: ${c.name}`, async () => {
      const r = await check(c);
      expect(r.violation).toBeNull();
      expect(r.errors).toBe(0);
      // An empty search would pass vacuously.
      expect(r.states).toBeGreaterThan(100_000);
    }, 240_000);
  }

  for (const v of variants) {
    it(`refutes the broken variant: ${v.name}`, async () => {
      const r = await check(v);
      expect(r.errors).toBeGreaterThan(0);
      expect(r.violation).toMatch(/assert|acceptance/);
    }, 240_000);
  }
});

describe('reading pan output', () => {
  it('takes the error count, the states and the first violation', () => {
    const out = 'pan:1: assertion violated (x>0) (at depth 12)\nState-vector 196 byte, depth reached 40, errors: 1\n    1268 states, stored\n';
    expect(parsePan(out)).toEqual({ errors: 1, states: 1268, violation: 'assertion violated (x>0)' });
  });
  it('refuses output without a summary', () => {
    expect(() => parsePan('pan: out of memory')).toThrow(/no summary/);
  });
});
