// Issue 16: every component is scraped (a PodMonitor per workload, on ports
// the pods really have, admitted by the NetworkPolicies), and the broker's
// metrics are on, on a port of their own, as the broker itself parses its
// ConfigMap.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config';
import { hasKubectl, kustomizations, render, skipReason } from './render';
import type { K8sObject } from './render';

type Port = { name?: string; containerPort: number; protocol?: string };
type Container = { name: string; ports?: Port[] };
type PodTemplate = { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; initContainers?: Container[] } };
type Endpoint = { port: string; path?: string };
type PolicyPeer = { namespaceSelector?: { matchLabels?: Record<string, string> } };
type NetworkPolicySpec = {
  podSelector: { matchLabels?: Record<string, string> };
  ingress?: { from?: PolicyPeer[]; ports?: { port: number | string; protocol?: string }[] }[];
};

const workloads = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
const template = (w: K8sObject) => (w.spec as { template: PodTemplate }).template;
const selects = (sel: Record<string, string> | undefined, labels: Record<string, string>) => Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);
const ports = (w: K8sObject): Port[] => {
  const spec = template(w).spec;
  return [...spec.containers, ...(spec.initContainers ?? [])].flatMap((c) => c.ports ?? []);
};
const metricsPorts = (w: K8sObject) => ports(w).filter((p) => /metrics$/.test(p.name ?? '') || p.name === 'keeper-http');

/** Ports the NetworkPolicies open to the monitoring namespace for these pod labels. */
function monitoringIngress(objects: K8sObject[], labels: Record<string, string>): Set<number | string> {
  const open = new Set<number | string>();
  for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
    const spec = np.spec as unknown as NetworkPolicySpec;
    if (!selects(spec.podSelector.matchLabels, labels)) continue;
    for (const rule of spec.ingress ?? []) {
      const fromMonitoring = (rule.from ?? []).some((p) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring');
      if (fromMonitoring) for (const p of rule.ports ?? []) open.add(p.port);
    }
  }
  return open;
}

describe.runIf(hasKubectl)(`every component is scraped${skipReason}`, () => {
  describe.each(kustomizations.filter((k) => k.startsWith('overlays/')))('%s', (overlay) => {
    it('each workload has a PodMonitor covering every metrics port, on ports its pods expose, reachable from monitoring', () => {
      const objects = render(overlay);
      const monitors = objects.filter((o) => o.kind === 'PodMonitor');
      expect(workloads(objects).length).toBeGreaterThan(0);
      for (const w of workloads(objects)) {
        const labels = template(w).metadata.labels;
        const mine = monitors.filter((m) => selects((m.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, labels));
        // A workload whose program serves no metrics says so, with why, and then has no metrics port to scrape.
        if (w.metadata.annotations?.['keyhold.io/no-metrics']) {
          expect(mine, `${w.metadata.name}: no-metrics but a PodMonitor`).toEqual([]);
          expect(metricsPorts(w), `${w.metadata.name}: no-metrics but a metrics port`).toEqual([]);
          continue;
        }
        expect(mine.length, `${w.metadata.name}: PodMonitor`).toBe(1);
        const endpoints = mine.flatMap((m) => (m.spec as { podMetricsEndpoints: Endpoint[] }).podMetricsEndpoints);
        const byName = new Map(ports(w).map((p) => [p.name, p]));
        for (const e of endpoints) expect(byName.has(e.port), `${w.metadata.name}: PodMonitor port ${e.port}`).toBe(true);
        expect(endpoints.map((e) => e.port).sort(), w.metadata.name).toEqual(metricsPorts(w).map((p) => p.name).sort());
        const open = monitoringIngress(objects, labels);
        for (const p of metricsPorts(w)) expect(open.has(p.containerPort) || open.has(p.name ?? ''), `${w.metadata.name}: ${p.name} open to monitoring`).toBe(true);
      }
    });
  });

  it('the broker, parsing its own ConfigMap, serves metrics on the port its PodMonitor scrapes, and not on the API port', () => {
    const objects = render('overlays/broker');
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'keyhold-broker') as unknown as { data: Record<string, string> };
    const config = parseConfig(cm.data);
    expect(config.runtime).toBe('kubernetes');
    expect(config.exposeMetrics).toBe(false);
    const deploy = objects.find((o) => o.kind === 'Deployment');
    if (!deploy) throw new Error('no broker Deployment');
    const metrics = ports(deploy).find((p) => p.name === 'metrics');
    expect(metrics?.containerPort).toBe(config.metricsPort);
    expect(ports(deploy).find((p) => p.name === 'https')?.containerPort).toBe(config.port);
    // Without the explicit settings, the kubernetes runtime's defaults give the same.
    const { KEYHOLD_METRICS: _m, KEYHOLD_METRICS_PORT: _p, ...bare } = cm.data;
    expect(parseConfig(bare).metricsPort).toBe(config.metricsPort);
    // Prometheus reaches the metrics port, never the API port.
    const open = monitoringIngress(objects, template(deploy).metadata.labels);
    expect([...open]).toEqual([config.metricsPort]);
  });
});
