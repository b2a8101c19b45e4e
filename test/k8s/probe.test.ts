// Issue 16: the blocks-behind probe can reach its references through the
// validator's NetworkPolicy, its thresholds are per chain, and a lagging
// beacon node is itself restarted by a liveness check that looks at its lag
// (the rendered check is run here, with bash, against a stand-in node).
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasKubectl, render, siteOverlays, skipReason } from './render';
import type { K8sObject } from './render';

type Env = { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string } } };
type Probe = { exec?: { command: string[] }; tcpSocket?: unknown; httpGet?: unknown; periodSeconds?: number; failureThreshold?: number };
type Container = { name: string; env?: Env[]; livenessProbe?: Probe; startupProbe?: Probe };
type Peer = { namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> } };
type Egress = { to: Peer[]; ports: { port: number; protocol?: string }[] };

/** Slot times of the chains the overlays run, from their specs (SECONDS_PER_SLOT). */
const chains: Record<string, { secondsPerSlot: number; slotsPerEpoch: number }> = {
  mainnet: { secondsPerSlot: 12, slotsPerEpoch: 32 },
  hoodi: { secondsPerSlot: 12, slotsPerEpoch: 32 },
};

const networkData = (objects: K8sObject[]) => (objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('network-')) as unknown as { data: Record<string, string> }).data;
const siteData = (objects: K8sObject[]) => (objects.find((o) => o.kind === 'ConfigMap' && (o as { data?: Record<string, string> }).data?.KEYHOLD_URL !== undefined) as unknown as { data: Record<string, string> }).data;
const containers = (objects: K8sObject[], sts: string): Container[] => {
  const o = objects.find((x) => x.kind === 'StatefulSet' && x.metadata.name === sts);
  const spec = (o?.spec as { template: { spec: { containers: Container[]; initContainers?: Container[] } } }).template.spec;
  return [...spec.containers, ...(spec.initContainers ?? [])];
};

/**
 * Whether the validator NetworkPolicy lets the pod reach a reference URL.
 * Only in-cluster references (<service>.<namespace>.svc) can be judged from
 * the manifests; their pods must carry the reference label the policy opens.
 */
function referenceAllowed(egress: readonly Egress[], url: URL, referenceLabels: Record<string, string>): boolean {
  const inCluster = /^[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?$/.test(url.hostname);
  if (!inCluster) return false;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return egress.some(
    (r) =>
      r.ports.some((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP') &&
      r.to.some((peer) => peer.namespaceSelector !== undefined && Object.keys(peer.namespaceSelector.matchLabels ?? {}).length === 0 && Object.entries(peer.podSelector?.matchLabels ?? {}).every(([k, v]) => referenceLabels[k] === v) && Object.keys(peer.podSelector?.matchLabels ?? {}).length > 0),
  );
}

describe.runIf(hasKubectl)(`the blocks-behind probe and the node's liveness${skipReason}`, () => {
  describe.each(siteOverlays)('%s', (overlay) => {
    const objects = () => render(overlay);
    const chain = overlay.includes('mainnet') ? 'mainnet' : 'hoodi';
    const egress = (): Egress[] => (objects().find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'validator')?.spec as { egress: Egress[] }).egress;

    it('thresholds are the chain\'s own: slot time, and the same two epochs for the keeper and the node', () => {
      const d = networkData(objects());
      const { secondsPerSlot, slotsPerEpoch } = chains[chain]!;
      expect(Number(d.BLOCK_TIME_SECONDS)).toBe(secondsPerSlot);
      expect(Number(d.NODE_MAX_BEHIND_SLOTS)).toBe(2 * slotsPerEpoch);
      expect(Number(d.MAX_BEHIND_SECONDS)).toBe(Number(d.NODE_MAX_BEHIND_SLOTS) * secondsPerSlot);
      const keeper = containers(objects(), 'validator').find((c) => c.name === 'keyhold-keeper');
      const from = (name: string) => keeper?.env?.find((e) => e.name === name)?.valueFrom?.configMapKeyRef?.key;
      expect(from('KEYHOLD_PROBE_MAX_BEHIND_SECONDS')).toBe('MAX_BEHIND_SECONDS');
      expect(from('KEYHOLD_PROBE_BLOCK_TIME_SECONDS')).toBe('BLOCK_TIME_SECONDS');
    });

    it('every configured probe reference is reachable through the validator NetworkPolicy', () => {
      const refs = (siteData(objects()).KEYHOLD_PROBE_REFERENCE_URLS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      for (const r of refs) expect(referenceAllowed(egress(), new URL(r), { 'keyhold.io/probe-reference': 'true' }), r).toBe(true);
    });

    it('a reference beacon node in another namespace, labelled as a reference, is reachable; an internet one or an unlabelled one is not', () => {
      const label = { 'keyhold.io/probe-reference': 'true' };
      expect(referenceAllowed(egress(), new URL('http://beacon.validators-other.svc:5052'), label)).toBe(true);
      expect(referenceAllowed(egress(), new URL('http://beacon.validators-other.svc:5052'), {})).toBe(false);
      expect(referenceAllowed(egress(), new URL('https://beacon.example.org'), label)).toBe(false);
      expect(referenceAllowed(egress(), new URL('http://beacon.validators-other.svc:8545'), label)).toBe(false);
    });

    it('the beacon node\'s liveness looks at its lag, not only at an open port, after a startup allowance', () => {
      const beacon = containers(objects(), 'node').find((c) => c.name === 'beacon');
      expect(beacon?.livenessProbe?.tcpSocket).toBeUndefined();
      expect(beacon?.livenessProbe?.exec?.command.join(' ')).toContain('sync_distance');
      expect(beacon?.startupProbe?.exec?.command).toEqual(beacon?.livenessProbe?.exec?.command);
      const startupSeconds = (beacon?.startupProbe?.periodSeconds ?? 10) * (beacon?.startupProbe?.failureThreshold ?? 3);
      expect(startupSeconds).toBeGreaterThanOrEqual(3600);
      expect(beacon?.env?.find((e) => e.name === 'NODE_MAX_BEHIND_SLOTS')?.valueFrom?.configMapKeyRef?.key).toBe('NODE_MAX_BEHIND_SLOTS');
    });
  });

  describe('the rendered beacon liveness check, run against a stand-in beacon API', () => {
    let server: Server;
    let port = 0;
    let answer: string | null = '{"data":{"head_slot":"1000","sync_distance":"3","is_syncing":false,"is_optimistic":false,"el_offline":false}}';
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url !== '/eth/v1/node/syncing' || answer === null) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    // Async: the stand-in answers from this same event loop.
    const check = (env: Record<string, string>): Promise<{ status: number | null; stdout: string }> => {
      const beacon = containers(render('overlays/mainnet-active'), 'node').find((c) => c.name === 'beacon');
      const [cmd, ...args] = beacon!.livenessProbe!.exec!.command;
      const child = spawn(cmd!, args, { env: { PATH: process.env.PATH, NODE_MAX_BEHIND_SLOTS: '64', BEACON_HTTP_PORT: String(port), ...env }, timeout: 15_000 });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout })));
    };

    it('passes within the limit and fails past it, saying by how much', async () => {
      answer = '{"data":{"head_slot":"1000","sync_distance":"3","is_syncing":false}}';
      expect((await check({})).status).toBe(0);
      answer = '{"data":{"head_slot":"1000","sync_distance":"64","is_syncing":true}}';
      expect((await check({})).status).toBe(0);
      answer = '{"data":{"head_slot":"1000","sync_distance":"65","is_syncing":true}}';
      const r = await check({});
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('65 slots behind the clock (limit 64)');
    });

    it('fails when the API does not answer or answers something else', async () => {
      answer = null;
      expect((await check({})).status).not.toBe(0);
      answer = '{"data":{}}';
      expect((await check({})).status).not.toBe(0);
      expect((await check({ BEACON_HTTP_PORT: '1' })).status).not.toBe(0);
    });
  });
});
