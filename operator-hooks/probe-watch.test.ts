import { describe, expect, it } from 'vitest';
import type { ProbeRecord } from './probe';
import { probeNotice } from './probe-watch';
import { renderMetrics } from './status-server';
import type { KeeperStatus } from './keeper';

const record = (over: Partial<ProbeRecord>): ProbeRecord => ({
  checkedAt: 1,
  healthy: true,
  reason: 'in sync',
  behindSeconds: 0,
  basis: 'reference',
  fallback: false,
  referenceErrors: [],
  limitSeconds: 768,
  localDownSince: null,
  ...over,
});

describe('probe fallback notices for the keeper log', () => {
  it('logs the start of a fallback once, with the reference errors, and its end', () => {
    const ok = record({ checkedAt: 1 });
    const fb = record({ checkedAt: 2, basis: 'wall-clock', fallback: true, referenceErrors: ['http://ref:5052: ECONNREFUSED'] });
    expect(probeNotice(null, ok)).toBeNull();
    expect(probeNotice(ok, fb)).toMatch(/FALLBACK.*http:\/\/ref:5052: ECONNREFUSED/);
    expect(probeNotice(fb, { ...fb, checkedAt: 3 })).toBeNull();
    expect(probeNotice(fb, record({ checkedAt: 4 }))).toBe('probe: reference nodes answer again');
    expect(probeNotice(null, fb)).toMatch(/FALLBACK/);
    expect(probeNotice(fb, fb)).toBeNull();
  });
});

describe('probe metrics', () => {
  const status = { validator: 'v1', state: 'holding', epoch: 3, renewFailuresTotal: 0, holdUntil: null } as unknown as KeeperStatus;
  it('exports the fallback and the limit next to the distance', () => {
    const text = renderMetrics(status, record({ fallback: true, basis: 'wall-clock', behindSeconds: 24 }), 0);
    expect(text).toContain('keyhold_probe_behind_seconds{validator="v1"} 24');
    expect(text).toContain('keyhold_probe_fallback{validator="v1"} 1');
    expect(text).toContain('keyhold_probe_limit_seconds{validator="v1"} 768');
    expect(renderMetrics(status, record({}), 0)).toContain('keyhold_probe_fallback{validator="v1"} 0');
    expect(renderMetrics(status, null, 0)).not.toContain('keyhold_probe_');
  });
});
