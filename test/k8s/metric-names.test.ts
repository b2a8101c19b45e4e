// Issue 16: the Grafana dashboard parses, and it and every alert rule refer
// only to metrics that exist: the broker's (src/metrics.ts, as it renders
// them), the keeper's and probe's (operator-hooks/status-server.ts), and the
// clients' and kubelet's, named per their documentation.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BrokerMetrics } from '../../src/metrics';
import type { KeeperStatus } from '../../operator-hooks/keeper';
import type { ProbeRecord } from '../../operator-hooks/probe';
import { renderMetrics } from '../../operator-hooks/status-server';
import { hasKubectl, k8sRoot, kustomizations, render, skipReason } from './render';

/** Metrics of software keyhold does not write, with where each is defined. */
const clientMetrics: Record<string, string> = {
  libp2p_peers: 'lighthouse bn (beacon_node/lighthouse_network metrics): connected peers',
  sync_eth2_synced: 'lighthouse bn (network sync metrics): 1 when synced',
  validator_monitor_prev_epoch_on_chain_attester_hit: 'lighthouse bn --validator-monitor-auto (beacon_chain validator_monitor)',
  validator_monitor_prev_epoch_on_chain_attester_miss: 'lighthouse bn --validator-monitor-auto (beacon_chain validator_monitor)',
  p2p_peers: 'geth --metrics (p2p/peers gauge)',
  kubelet_volume_stats_available_bytes: 'kubelet (volume stats)',
  kubelet_volume_stats_capacity_bytes: 'kubelet (volume stats)',
};

const typed = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]));

async function knownMetrics(): Promise<Set<string>> {
  const broker = typed((await new BrokerMetrics().render()).body);
  const status = { validator: 'v', state: 'holding', epoch: 1, renewFailuresTotal: 0, holdUntil: null } as unknown as KeeperStatus;
  const probe: ProbeRecord = { checkedAt: 0, healthy: true, reason: '', behindSeconds: 0, basis: 'reference', fallback: false, referenceErrors: [], limitSeconds: 768, localDownSince: null };
  const keeper = typed(renderMetrics(status, probe, 0));
  expect(broker).toContain('keyhold_broker_decisions_total');
  expect(keeper).toContain('keyhold_keeper_holding');
  return new Set([...broker, ...keeper, ...Object.keys(clientMetrics)]);
}

const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'le']);

/** Metric names a PromQL expression selects (not functions, labels, keywords or strings). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  return [...stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((n) => !keywords.has(n.toLowerCase()));
}

type Panel = { title: string; targets?: { expr: string }[] };

describe('metric names in PromQL', () => {
  it('finds selected metrics, not functions, labels or grouping', () => {
    expect(metricNames('sum by (validator, le) (rate(keyhold_store_call_duration_seconds_bucket{store="a b"}[5m])) > 0.5 * x_total')).toEqual(['keyhold_store_call_duration_seconds_bucket', 'x_total']);
    expect(metricNames('max by (validator) (a) == 0 or absent(b)')).toEqual(['a', 'b']);
    expect(metricNames('a / on (pod) group_left b and predict_linear(c[6h], 4 * 24 * 3600) < 0')).toEqual(['a', 'b', 'c']);
  });
});

describe('the Grafana dashboard', () => {
  const file = path.join(k8sRoot, 'base/dashboards/keyhold.json');
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { title: string; uid: string; panels: Panel[] };

  it('parses, and has the panels an operator looks for', () => {
    expect(dashboard.uid).toBe('keyhold');
    const titles = dashboard.panels.map((p) => p.title.toLowerCase());
    for (const want of ['holders per validator', 'epoch', 'renewal', 'store', 'chain lag']) expect(titles.some((t) => t.includes(want)), want).toBe(true);
  });

  it('refers only to metrics that exist', async () => {
    const known = await knownMetrics();
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    for (const e of exprs) {
      expect(metricNames(e).length, e).toBeGreaterThan(0);
      for (const name of metricNames(e)) expect(known.has(name), `${name} in ${e}`).toBe(true);
    }
  });
});

describe.runIf(hasKubectl)(`alert rules refer only to metrics that exist${skipReason}`, () => {
  it.each(kustomizations.filter((k) => k.startsWith('overlays/')))('%s', async (overlay) => {
    const known = await knownMetrics();
    const exprs = render(overlay)
      .filter((o) => o.kind === 'PrometheusRule')
      .flatMap((o) => (o.spec as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.expr)));
    expect(exprs.length).toBeGreaterThan(0);
    for (const e of exprs) for (const name of metricNames(e)) expect(known.has(name), `${name} in ${e}`).toBe(true);
  });

  it('ships the dashboard to Grafana as a labelled ConfigMap', () => {
    const cm = render('overlays/mainnet-active').find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('keyhold-dashboard')) as unknown as {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm.data['keyhold.json']!)).toMatchObject({ uid: 'keyhold' });
  });
});
