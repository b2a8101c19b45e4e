// Issue 16: on Kubernetes the broker's metrics are on by default and on a
// port of their own; the same listener serves `npm start` when
// KEYHOLD_METRICS_PORT is set. The API port then has no /metrics, and the
// metrics port has nothing but /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports';
import { Broker } from './support/cluster';

describe('broker metrics on a port of their own', () => {
  let broker: Broker;
  let metricsPort: number;
  beforeAll(async () => {
    metricsPort = await freePort();
    broker = await Broker.start({ KEYHOLD_METRICS_PORT: String(metricsPort) });
  });
  afterAll(() => broker.stop());

  it('serves Prometheus text on the metrics port, and only that', async () => {
    await fetch(`${broker.url}/healthz`);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('# TYPE keyhold_broker_decisions_total counter');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/v1/validators`)).status).toBe(404);
  });

  it('no longer serves /metrics on the API port', async () => {
    expect((await fetch(`${broker.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  });
});
