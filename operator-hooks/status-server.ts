// The keeper's window for kubelet and Prometheus: GET /readyz (200 only while
// holding, so a standby never looks ready), GET /state (JSON), GET /metrics
// (Prometheus text). It shows epochs and times, never a grant or a key.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeeperState, KeeperStatus } from './keeper';
import { readProbeRecord, type ProbeRecord } from './probe';

const states: readonly KeeperState[] = ['waiting', 'holding', 'lost', 'fenced', 'releasing', 'released'];

const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function renderMetrics(s: KeeperStatus, probe: ProbeRecord | null, nowMs: number): string {
  const v = `validator="${label(s.validator)}"`;
  const lines = [
    '# HELP keyhold_keeper_holding 1 while this keeper holds a grant and lets the signer run.',
    '# TYPE keyhold_keeper_holding gauge',
    `keyhold_keeper_holding{${v}} ${s.state === 'holding' ? 1 : 0}`,
    '# HELP keyhold_keeper_renew_failures_total Renewal attempts that did not return a grant.',
    '# TYPE keyhold_keeper_renew_failures_total counter',
    `keyhold_keeper_renew_failures_total{${v}} ${s.renewFailuresTotal}`,
    '# HELP keyhold_keeper_epoch Epoch of the grant this keeper holds or last held (0: none yet).',
    '# TYPE keyhold_keeper_epoch gauge',
    `keyhold_keeper_epoch{${v}} ${s.epoch ?? 0}`,
    '# HELP keyhold_keeper_hold_remaining_seconds Time until the keeper stops the signer unless a renewal succeeds.',
    '# TYPE keyhold_keeper_hold_remaining_seconds gauge',
    `keyhold_keeper_hold_remaining_seconds{${v}} ${s.holdUntil === null ? 0 : Math.max(0, (Date.parse(s.holdUntil) - nowMs) / 1000).toFixed(3)}`,
    '# HELP keyhold_keeper_state The keeper state, one series per state.',
    '# TYPE keyhold_keeper_state gauge',
    ...states.map((st) => `keyhold_keeper_state{${v},state="${st}"} ${s.state === st ? 1 : 0}`),
  ];
  if (probe !== null && probe.behindSeconds !== null) {
    lines.push(
      '# HELP keyhold_probe_behind_seconds How far the local node was behind at the last liveness probe.',
      '# TYPE keyhold_probe_behind_seconds gauge',
      `keyhold_probe_behind_seconds{${v}} ${probe.behindSeconds}`,
    );
  }
  if (probe !== null) {
    // Records from before these fields existed say nothing about them: no series rather than a made-up 0.
    if (typeof probe.limitSeconds === 'number') {
      lines.push(
        '# HELP keyhold_probe_limit_seconds Distance behind past which the liveness probe fails and the keeper restarts (KEYHOLD_PROBE_MAX_BEHIND_SECONDS).',
        '# TYPE keyhold_probe_limit_seconds gauge',
        `keyhold_probe_limit_seconds{${v}} ${probe.limitSeconds}`,
      );
    }
    if (typeof probe.fallback === 'boolean') {
      lines.push(
        '# HELP keyhold_probe_fallback 1 when references are configured but none answered at the last probe, so the distance came from the clock.',
        '# TYPE keyhold_probe_fallback gauge',
        `keyhold_probe_fallback{${v}} ${probe.fallback ? 1 : 0}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function startStatusServer(opts: { port: number; status: () => KeeperStatus; probeStateFile: string }): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
    const s = opts.status();
    if (path === '/readyz') return reply(s.state === 'holding' ? 200 : 503, 'text/plain', `${s.state}\n`);
    if (path === '/state') return reply(200, 'application/json', `${JSON.stringify(s)}\n`);
    if (path === '/metrics') {
      void readProbeRecord(opts.probeStateFile).then((probe) => reply(200, 'text/plain; version=0.0.4', renderMetrics(s, probe, Date.now())));
      return;
    }
    reply(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '0.0.0.0', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
