// /readyz: each store as ready, degraded or down. A broker whose state store
// is down still renews current holders within the horizon (invariant 6), so
// it stays in rotation as degraded; it is down only when every store is.

import type { Clock, Health, KeyStore, StateStore } from '../ports';

export type StoreStatus = 'ready' | 'degraded' | 'down';

export interface ReadinessReport {
  readonly status: StoreStatus;
  readonly stores: readonly { name: string; role: 'state' | 'key'; status: StoreStatus; detail?: string }[];
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
}

const asStatus = (h: Health): StoreStatus => (h.state === 'ready' ? 'ready' : h.state === 'unknown' ? 'degraded' : 'down');

/** A store whose breaker is open fails every call fast, whatever its own health says. */
function withBreaker(store: object, status: StoreStatus): StoreStatus {
  const b = (store as { breakerState?: () => string }).breakerState?.();
  if (b === 'open' || b === 'isolated') return 'down';
  if (b === 'half_open' && status === 'ready') return 'degraded';
  return status;
}

async function probe(check: () => Promise<Health>, timeoutMs: number): Promise<Health> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check(),
      new Promise<Health>((resolve) => {
        timer = setTimeout(() => resolve({ state: 'error', detail: 'timeout' }), timeoutMs);
      }),
    ]);
  } catch {
    return { state: 'error', detail: 'health check failed' };
  } finally {
    clearTimeout(timer);
  }
}

export function storeReadiness(state: StateStore, keys: readonly KeyStore[], timeoutMs = 2000): Readiness {
  return {
    async check() {
      const [s, ...k] = await Promise.all([probe(() => state.health(), timeoutMs), ...keys.map((ks) => probe(() => ks.health(), timeoutMs))]);
      const stores = [
        { name: state.name, role: 'state' as const, status: withBreaker(state, asStatus(s!)), ...(s!.detail ? { detail: s!.detail } : {}) },
        ...keys.map((ks, i) => ({ name: ks.name, role: 'key' as const, status: withBreaker(ks, asStatus(k[i]!)), ...(k[i]!.detail ? { detail: k[i]!.detail } : {}) })),
      ];
      const status: StoreStatus = stores.every((x) => x.status === 'down')
        ? 'down'
        : stores.every((x) => x.status === 'ready')
          ? 'ready'
          : 'degraded';
      return { status, stores };
    },
  };
}

/**
 * /readyz is unauthenticated: a flood of checks must not become a flood of
 * store calls. Every check within `ttlMs` of a probe gets that probe's
 * answer, including checks that arrive while it is still running.
 */
export function cachedReadiness(inner: Readiness, clock: Clock, ttlMs: number): Readiness {
  let last: { at: number; report: Promise<ReadinessReport> } | undefined;
  return {
    check() {
      const now = clock.now();
      if (!last || now - last.at >= ttlMs || now < last.at) last = { at: now, report: inner.check() };
      return last.report;
    },
  };
}
