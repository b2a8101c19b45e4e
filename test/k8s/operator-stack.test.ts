// Issue 16, "what an operator expects": a node pair several validator pods
// share (with failover), an archive node for RPC, per-validator settings
// where the client reads them, and optional MEV-boost. Asserted on the
// rendered overlays, each with the overlay that must not have it.
import { describe, expect, it } from 'vitest';
import { parseValidatorSettings } from '../../operator-hooks/layouts/settings';
import { hasKubectl, isValidatorWorkload, render, siteOverlays, skipReason, type K8sObject } from './render';

type Env = { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string } } };
type Container = { name: string; args?: string[]; env?: Env[]; volumeMounts?: { name: string; mountPath: string }[] };
type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: { name: string; projected?: { sources: { configMap?: { name: string } }[] } }[]; affinity?: unknown };
type Peer = { namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> }; ipBlock?: { cidr: string; except?: string[] } };
type Rule = { from?: Peer[]; to?: Peer[]; ports?: { port: number; protocol?: string }[] };
type Policy = { podSelector: { matchLabels: Record<string, string> }; ingress?: Rule[]; egress?: Rule[] };

/** By name; a generated ConfigMap's name carries kustomize's content hash. */
const one = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const o = objects.find((x) => x.kind === kind && (x.metadata.name === name || (kind === 'ConfigMap' && new RegExp(`^${name}-[a-z0-9]{10}$`).test(x.metadata.name))));
  if (!o) throw new Error(`no ${kind}/${name}`);
  return o;
};
const pod = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const container = (o: K8sObject, name: string): Container => {
  const p = pod(o);
  const c = [...p.containers, ...(p.initContainers ?? [])].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
};
const configValue = (objects: K8sObject[], cm: string, key: string) => (one(objects, 'ConfigMap', cm) as unknown as { data: Record<string, string> }).data[key];
const envOf = (objects: K8sObject[], c: Container, name: string): string | undefined => {
  const e = c.env?.find((x) => x.name === name);
  if (e?.valueFrom?.configMapKeyRef) return configValue(objects, e.valueFrom.configMapKeyRef.name, e.valueFrom.configMapKeyRef.key);
  return e?.value;
};
const policy = (o: K8sObject) => o.spec as unknown as Policy;
const namespaceLabels = (objects: K8sObject[]) => objects.find((o) => o.kind === 'Namespace')!.metadata.labels ?? {};
const matches = (sel: Record<string, string> | undefined, labels: Record<string, string>) => sel !== undefined && Object.entries(sel).every(([k, v]) => labels[k] === v);

describe.runIf(hasKubectl)(`what an operator expects${skipReason}`, () => {
  describe('one node pair, many signers (hoodi-shared-nodes, hoodi-shared-signer)', () => {
    const nodes = () => render('overlays/hoodi-shared-nodes');
    const signer = () => render('overlays/hoodi-shared-signer');

    it('runs two node pods on different hosts, a drain taking at most one, and lists both to its validator for failover', () => {
      const sts = one(nodes(), 'StatefulSet', 'node');
      expect((sts.spec as { replicas: number }).replicas).toBe(2);
      expect(pod(sts).affinity).toEqual({ podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'node' } } }] } });
      const pdbs = nodes().filter((o) => o.kind === 'PodDisruptionBudget' && matches((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, { 'app.kubernetes.io/name': 'node' }));
      expect(pdbs.map((p) => (p.spec as { maxUnavailable: number }).maxUnavailable)).toEqual([1]);
      const headless = one(nodes(), 'Service', 'node').spec as { clusterIP: string; ports: { port: number }[] };
      expect(headless.clusterIP).toBe('None');
      expect(headless.ports.map((p) => p.port)).toContain(5052);
      const vc = container(nodes().find(isValidatorWorkload)!, 'validator');
      expect(envOf(nodes(), vc, 'BEACON_NODES')).toBe('http://node-0.node:5052,http://node-1.node:5052');
      expect(vc.args![0]).toContain('--beacon-nodes "$BEACON_NODES"');
    });

    it('a site overlay keeps one node and does not admit other namespaces to it', () => {
      const objects = render('overlays/hoodi-active');
      expect((one(objects, 'StatefulSet', 'node').spec as { replicas: number }).replicas).toBe(1);
      expect(configValue(objects, 'keyhold', 'BEACON_NODES')).toBe('http://beacon:5052');
      const from = (policy(one(objects, 'NetworkPolicy', 'node')).ingress ?? []).filter((r) => r.ports?.some((p) => p.port === 5052)).flatMap((r) => r.from ?? []);
      expect(from.every((p) => p.namespaceSelector === undefined)).toBe(true);
    });

    it('the signer without nodes uses both nodes of the shared namespace, and each side\'s policy admits the other', () => {
      expect(signer().some((o) => o.metadata.name === 'node' || o.metadata.name === 'beacon' || o.metadata.name === 'node-p2p')).toBe(false);
      const ns = nodes().find((o) => o.kind === 'Namespace')!.metadata.name;
      const vc = container(signer().find(isValidatorWorkload)!, 'validator');
      const urls = envOf(signer(), vc, 'BEACON_NODES')!.split(',').map((u) => new URL(u));
      expect(urls.map((u) => `${u.hostname}:${u.port}`)).toEqual([`node-0.node.${ns}.svc:5052`, `node-1.node.${ns}.svc:5052`]);
      expect(envOf(signer(), container(signer().find(isValidatorWorkload)!, 'keyhold-keeper'), 'KEYHOLD_PROBE_LOCAL_URL')).toBe(urls[0]!.href.replace(/\/$/, ''));
      // Signer egress reaches node pods in a namespace carrying the shared-nodes namespace's labels.
      const out = (policy(one(signer(), 'NetworkPolicy', 'validator')).egress ?? []).filter((r) => r.ports?.some((p) => p.port === 5052)).flatMap((r) => r.to ?? []);
      expect(out.some((p) => matches(p.namespaceSelector?.matchLabels, namespaceLabels(nodes())) && matches(p.podSelector?.matchLabels, { 'app.kubernetes.io/name': 'node' }))).toBe(true);
      // The node pair admits validator pods from a namespace carrying the signer namespace's labels.
      const inn = (policy(one(nodes(), 'NetworkPolicy', 'node')).ingress ?? []).filter((r) => r.ports?.some((p) => p.port === 5052)).flatMap((r) => r.from ?? []);
      expect(inn.some((p) => matches(p.namespaceSelector?.matchLabels, namespaceLabels(signer())) && matches(p.podSelector?.matchLabels, { 'app.kubernetes.io/name': 'validator' }))).toBe(true);
      // ...but not from a site overlay's namespace, which did not opt in.
      expect(inn.some((p) => matches(p.namespaceSelector?.matchLabels, namespaceLabels(render('overlays/hoodi-active'))))).toBe(false);
    });
  });

  describe('archive node for RPC (mainnet-archive)', () => {
    const objects = () => render('overlays/mainnet-archive');
    it('keeps all state (gcmode archive, full sync) on a volume of its own size, and holds no key', () => {
      const geth = container(one(objects(), 'StatefulSet', 'node'), 'geth');
      expect(geth.args).toEqual(expect.arrayContaining(['--gcmode=archive', '--syncmode=full', '--http.port=8545']));
      expect(geth.args).not.toContain('--syncmode=snap');
      const size = (o: K8sObject) => (o.spec as { volumeClaimTemplates: { metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }[] }).volumeClaimTemplates.find((v) => v.metadata.name === 'execution-data')!.spec.resources.requests.storage;
      expect(size(one(objects(), 'StatefulSet', 'node'))).toBe('24Ti');
      expect(size(one(render('overlays/mainnet-active'), 'StatefulSet', 'node'))).toBe('2Ti');
      expect(objects().filter(isValidatorWorkload)).toEqual([]);
      // A validator's full node serves no RPC at all.
      expect(container(one(render('overlays/mainnet-active'), 'StatefulSet', 'node'), 'geth').args!.some((a) => a.startsWith('--http'))).toBe(false);
    });

    it('serves RPC inside the cluster only, to namespaces that opted in', () => {
      const services = objects().filter((o) => o.kind === 'Service');
      const rpc = one(objects(), 'Service', 'rpc').spec as { type: string; ports: { port: number }[] };
      expect(rpc.type).toBe('ClusterIP');
      for (const s of services) {
        const spec = s.spec as { type?: string; ports: { port: number }[] };
        if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') expect(spec.ports.map((p) => p.port), s.metadata.name).not.toContain(8545);
      }
      expect(objects().some((o) => o.kind === 'Ingress')).toBe(false);
      const rules = (policy(one(objects(), 'NetworkPolicy', 'node')).ingress ?? []).filter((r) => r.ports === undefined || r.ports.some((p) => p.port === 8545));
      expect(rules).toEqual([{ from: [{ namespaceSelector: { matchLabels: { 'keyhold.io/rpc-clients': 'true' } } }], ports: [{ port: 8545, protocol: 'TCP' }] }]);
    });
  });

  describe.each(siteOverlays)('per-validator settings (%s)', (overlay) => {
    it('fetch and keeper write the lighthouse layout with the settings file the pod mounts from its ConfigMap', () => {
      const objects = render(overlay);
      const sts = objects.find(isValidatorWorkload)!;
      const volume = pod(sts).volumes!.find((v) => v.name === 'validator-settings')!;
      const cmName = volume.projected!.sources[0]!.configMap!.name;
      for (const name of ['keyhold-fetch', 'keyhold-keeper']) {
        const c = container(sts, name);
        expect(envOf(objects, c, 'KEYHOLD_CLIENT')).toBe('lighthouse');
        const file = envOf(objects, c, 'KEYHOLD_VALIDATOR_SETTINGS_FILE')!;
        const mount = c.volumeMounts!.find((m) => m.name === 'validator-settings')!;
        expect(file.startsWith(`${mount.mountPath}/`)).toBe(true);
        const text = configValue(objects, cmName, file.slice(mount.mountPath.length + 1));
        expect(() => parseValidatorSettings(text!)).not.toThrow();
      }
    });
  });

  describe('MEV-boost (components/mev-boost in hoodi-shared-nodes)', () => {
    const objects = () => render('overlays/hoodi-shared-nodes');
    it('the beacon node builds through mev-boost, the validator proposes through the builder, relays are configuration', () => {
      const beacon = container(one(objects(), 'StatefulSet', 'node'), 'beacon');
      const builder = beacon.args!.find((a) => a.startsWith('--builder='))!;
      const url = new URL(builder.slice('--builder='.length));
      const svc = one(objects(), 'Service', url.hostname).spec as { selector: Record<string, string>; ports: { port: number }[] };
      expect(svc.ports.map((p) => p.port)).toContain(Number(url.port));
      const boost = one(objects(), 'Deployment', 'mev-boost');
      expect(matches(svc.selector, (boost.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels)).toBe(true);
      const mb = container(boost, 'mev-boost');
      expect(mb.args).toEqual(expect.arrayContaining(['-relays=$(MEV_RELAYS)', '$(MEV_NETWORK_FLAG)', `-addr=0.0.0.0:${url.port}`]));
      expect(envOf(objects(), mb, 'MEV_RELAYS')).toBe('set-hoodi-relays-here');
      expect(envOf(objects(), mb, 'MEV_NETWORK_FLAG')).toBe('-hoodi');
      expect(envOf(objects(), container(objects().find(isValidatorWorkload)!, 'validator'), 'BUILDER_PROPOSALS')).toBe('--builder-proposals');
    });

    it('only the beacon nodes reach mev-boost, and mev-boost reaches only public HTTPS and DNS', () => {
      const p = policy(one(objects(), 'NetworkPolicy', 'mev-boost'));
      expect(p.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'node' } } }], ports: [{ port: 18550, protocol: 'TCP' }] }]);
      const https = p.egress!.find((r) => r.ports?.some((x) => x.port === 443))!;
      expect(https.to![0]!.ipBlock!.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']));
      expect(p.egress!.flatMap((r) => r.ports ?? []).map((x) => x.port).sort()).toEqual([443, 53, 53]);
    });

    it('without the component there is no builder anywhere', () => {
      const plain = render('overlays/hoodi-active');
      expect(container(one(plain, 'StatefulSet', 'node'), 'beacon').args!.some((a) => a.startsWith('--builder'))).toBe(false);
      expect(envOf(plain, container(plain.find(isValidatorWorkload)!, 'validator'), 'BUILDER_PROPOSALS')).toBe('');
      expect(plain.some((o) => o.metadata.name === 'mev-boost')).toBe(false);
    });
  });
});
