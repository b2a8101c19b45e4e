// Issue 16: the broker verifies pod tokens against each cluster's remote
// jwksUri, so its NetworkPolicy must let it reach exactly those endpoints:
// HTTPS to public addresses, and nothing else outside the cluster.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config';
import { hasKubectl, render, skipReason } from './render';

type IpBlock = { cidr: string; except?: string[] };
type EgressRule = { to?: { ipBlock?: IpBlock; namespaceSelector?: unknown; podSelector?: unknown }[]; ports?: { port: number; protocol?: string }[] };

const ipv4 = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
function inCidr(addr: string, cidr: string): boolean {
  if (cidr.includes(':')) return false;
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(addr) / size) === Math.floor(ipv4(base) / size);
}
const allows = (block: IpBlock, addr: string) => inCidr(addr, block.cidr) && !(block.except ?? []).some((e) => inCidr(addr, e));

describe.runIf(hasKubectl)(`broker egress${skipReason}`, () => {
  const objects = () => render('overlays/broker');
  const egress = (): EgressRule[] => {
    const np = objects().find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'keyhold-broker');
    return (np?.spec as { egress: EgressRule[] }).egress;
  };
  const remoteJwks = (): URL[] => {
    const cm = objects().find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'keyhold-broker') as unknown as { data: Record<string, string> };
    const config = parseConfig(cm.data);
    return [...config.clusters.flatMap((c) => (c.jwksUri ? [new URL(c.jwksUri)] : [])), ...(config.operatorOidc ? [new URL(config.operatorOidc.jwksUri)] : [])];
  };
  const outside = () => egress().filter((r) => (r.to ?? []).some((p) => p.ipBlock));

  it('the configuration has remote JWKS endpoints, each reachable over TCP on its port to a public address', () => {
    expect(remoteJwks().length).toBeGreaterThan(0);
    for (const u of remoteJwks()) {
      const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
      expect(u.protocol, u.href).toBe('https:');
      const rule = outside().find((r) => (r.ports ?? []).some((p) => p.port === port && (p.protocol ?? 'TCP') === 'TCP'));
      expect(rule, `egress for ${u.href}`).toBeDefined();
      expect(rule?.to?.some((p) => p.ipBlock && allows(p.ipBlock, '203.0.113.7')), `a public address for ${u.href}`).toBe(true);
    }
  });

  it('allows nothing more outside the cluster: only those ports, no private ranges, not the metadata service', () => {
    const needed = new Set(remoteJwks().map((u) => Number(u.port || 443)));
    for (const rule of outside()) {
      expect(rule.ports?.length, 'an ipBlock rule without ports allows every port').toBeGreaterThan(0);
      for (const p of rule.ports ?? []) expect(needed.has(p.port), `port ${p.port}`).toBe(true);
      for (const peer of rule.to ?? []) {
        if (!peer.ipBlock) continue;
        for (const addr of ['169.254.169.254', '10.0.0.1', '172.20.0.1', '192.168.1.1', '100.64.0.1', '127.0.0.1']) {
          expect(allows(peer.ipBlock, addr), `${peer.ipBlock.cidr} lets ${addr} through`).toBe(false);
        }
      }
    }
    for (const rule of egress()) expect(rule.to?.length, 'an egress rule without peers allows everywhere').toBeGreaterThan(0);
  });
});
