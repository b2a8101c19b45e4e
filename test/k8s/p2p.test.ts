// Issue 16: the node's P2P ports, lighthouse's QUIC port (UDP) included, are
// open in its NetworkPolicy and reachable from outside the cluster, on the
// numbers the clients advertise.
import { describe, expect, it } from 'vitest';
import { hasKubectl, render, siteOverlays, skipReason } from './render';
import type { K8sObject } from './render';

type Port = { name?: string; containerPort: number; protocol?: string };
type Container = { name: string; args?: string[]; ports?: Port[] };
type ServicePort = { name?: string; port: number; targetPort?: number | string; nodePort?: number; protocol?: string };

const nodePod = (objects: K8sObject[]) => {
  const sts = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'node');
  if (!sts) throw new Error('no node StatefulSet');
  return (sts.spec as { template: { spec: { containers: Container[] } } }).template.spec;
};
const arg = (c: Container, flag: string): number | undefined => {
  const a = c.args?.find((x) => x.startsWith(`${flag}=`));
  return a === undefined ? undefined : Number(a.slice(flag.length + 1));
};
const key = (port: number, protocol = 'TCP') => `${port}/${protocol}`;

describe.runIf(hasKubectl)(`P2P reachability${skipReason}`, () => {
  describe.each(siteOverlays)('%s', (overlay) => {
    const objects = () => render(overlay);
    const p2p = (): Port[] =>
      nodePod(objects())
        .containers.flatMap((c) => c.ports ?? [])
        .filter((p) => /p2p/.test(p.name ?? ''));

    it('the beacon node listens for QUIC on UDP, on the port it is told, next to its TCP port', () => {
      const beacon = nodePod(objects()).containers.find((c) => c.name === 'beacon');
      if (!beacon) throw new Error('no beacon container');
      const tcp = arg(beacon, '--port');
      const quic = arg(beacon, '--quic-port') ?? (tcp === undefined ? undefined : tcp + 1);
      expect(tcp).toBeDefined();
      const ports = (beacon.ports ?? []).map((p) => key(p.containerPort, p.protocol));
      expect(ports).toEqual(expect.arrayContaining([key(tcp!), key(tcp!, 'UDP'), key(quic!, 'UDP')]));
      const geth = nodePod(objects()).containers.find((c) => c.name === 'geth');
      const gethPort = geth && arg(geth, '--port');
      expect((geth?.ports ?? []).map((p) => key(p.containerPort, p.protocol))).toEqual(expect.arrayContaining([key(gethPort!), key(gethPort!, 'UDP')]));
    });

    it('the node NetworkPolicy admits every P2P port from anywhere', () => {
      const np = objects().find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'node');
      const ingress = (np?.spec as { ingress: { from?: unknown[]; ports: { port: number; protocol?: string }[] }[] }).ingress;
      const open = new Set(ingress.filter((r) => r.from === undefined).flatMap((r) => r.ports.map((p) => key(p.port, p.protocol))));
      expect(p2p().length).toBeGreaterThanOrEqual(5);
      for (const p of p2p()) expect(open.has(key(p.containerPort, p.protocol)), `${p.name} ${key(p.containerPort, p.protocol)}`).toBe(true);
    });

    it('a NodePort or LoadBalancer Service publishes every P2P port outside the cluster, on the same number, keeping source addresses', () => {
      const services = objects().filter((o) => o.kind === 'Service' && ['NodePort', 'LoadBalancer'].includes((o.spec as { type?: string }).type ?? ''));
      expect(services.length).toBeGreaterThan(0);
      const published = new Map<string, ServicePort>();
      for (const svc of services) {
        const spec = svc.spec as { selector: Record<string, string>; externalTrafficPolicy?: string; ports: ServicePort[] };
        expect(spec.selector).toEqual({ 'app.kubernetes.io/name': 'node' });
        expect(spec.externalTrafficPolicy, svc.metadata.name).toBe('Local');
        for (const p of spec.ports) published.set(key(Number(p.targetPort ?? p.port), p.protocol), p);
      }
      for (const p of p2p()) {
        const s = published.get(key(p.containerPort, p.protocol));
        expect(s, `${p.name} published`).toBeDefined();
        // The clients advertise their listening port: peers must reach it on that number.
        expect(s?.nodePort ?? s?.port, `${p.name} outside number`).toBe(p.containerPort);
      }
    });
  });
});
