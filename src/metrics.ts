// The broker's metrics, in its own registry (never the global one, so two
// brokers in one process stay apart). Labels are store names, operations,
// outcomes and error codes: never validator ids (unbounded) or anything secret.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KeyRead } from './broker/key-reader';
import type { CacheEvent } from './broker/key-cache';
import type { BreakerState, ResilienceHooks, StoreCallEvent } from './stores/resilience';

const breakerValue: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2, isolated: 3 };

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly storeLatency = new Histogram({
    name: 'keyhold_store_call_duration_seconds',
    help: 'Store call latency, by store, operation and outcome.',
    labelNames: ['store', 'operation', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly storeErrors = new Counter({ name: 'keyhold_store_errors_total', help: 'Failed store calls.', labelNames: ['store', 'operation', 'code'], registers: [this.registry] });
  private readonly breaker = new Gauge({ name: 'keyhold_store_breaker_state', help: 'Circuit breaker: 0 closed, 1 half-open, 2 open, 3 isolated.', labelNames: ['store'], registers: [this.registry] });
  private readonly fallbacks = new Counter({ name: 'keyhold_key_fallbacks_total', help: 'Key reads passed over to the next replica.', labelNames: ['store', 'reason'], registers: [this.registry] });
  private readonly keyReads = new Counter({ name: 'keyhold_key_reads_total', help: 'Key reads by the store that served them.', labelNames: ['store'], registers: [this.registry] });
  private readonly cache = new Counter({ name: 'keyhold_key_cache_total', help: 'Key cache results.', labelNames: ['result'], registers: [this.registry] });
  private readonly decisions = new Counter({ name: 'keyhold_broker_decisions_total', help: 'Answers to pods and operators, by decision and code.', labelNames: ['decision', 'code'], registers: [this.registry] });

  readonly storeHooks: ResilienceHooks = {
    onCall: (e: StoreCallEvent) => {
      this.storeLatency.observe({ store: e.store, operation: e.operation, outcome: e.outcome }, e.ms / 1000);
      if (e.outcome === 'error') this.storeErrors.inc({ store: e.store, operation: e.operation, code: e.code ?? 'error' });
    },
    onBreaker: (store, state) => this.breaker.set({ store }, breakerValue[state]),
  };

  keyRead(read: KeyRead): void {
    for (const f of read.fallbacks) this.fallbacks.inc({ store: f.store, reason: f.reason });
    this.keyReads.inc({ store: read.cache ? `cache:${read.store}` : read.store });
  }

  cacheEvent(e: CacheEvent): void {
    this.cache.inc({ result: e });
  }

  decision(decision: string, code = 'ok'): void {
    this.decisions.inc({ decision, code });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
