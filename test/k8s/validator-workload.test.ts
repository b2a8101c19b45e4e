// The properties issue 8 asks of every validator workload, asserted on the
// rendered output of every site overlay.
import { describe, expect, it } from 'vitest';
import { hasKubectl, isValidatorWorkload, render, siteOverlays, skipReason } from './render';
import type { K8sObject } from './render';

type Container = {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts?: { name: string; mountPath: string }[];
  livenessProbe?: { exec?: { command?: string[] } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type?: string };
    privileged?: boolean;
  };
};
type PodSpec = {
  initContainers?: Container[];
  containers: Container[];
  volumes?: Record<string, unknown>[];
  shareProcessNamespace?: boolean;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type?: string } };
};
type StatefulSetSpec = {
  replicas?: number;
  podManagementPolicy?: string;
  updateStrategy?: { type?: string };
  template: { spec: PodSpec };
  volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes?: string[] } }[];
};

const HOOK_IMAGE = 'ghcr.io/keyhold/keyhold-hook:0.1.0';

function podSpec(obj: K8sObject): PodSpec {
  return (obj.spec as unknown as StatefulSetSpec).template.spec;
}
function container(list: Container[] | undefined, name: string): Container {
  const found = list?.find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}
function envValue(c: Container, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

describe.runIf(hasKubectl)(`validator workloads in every site overlay${skipReason}`, () => {
  it('there are four site overlays: mainnet and hoodi, active and standby', () => {
    expect([...siteOverlays].sort()).toEqual([
      'overlays/hoodi-active',
      'overlays/hoodi-standby',
      'overlays/mainnet-active',
      'overlays/mainnet-standby',
    ]);
  });

  describe.each(siteOverlays)('%s', (overlay) => {
    const objects = (): K8sObject[] => render(overlay);
    const validators = (): K8sObject[] => objects().filter(isValidatorWorkload);

    it('has exactly one validator workload, a StatefulSet, and no other pod controllers for it', () => {
      const v = validators();
      expect(v.map((o) => o.kind)).toEqual(['StatefulSet']);
    });

    it('runs one replica, Parallel (so updates reach a pod that is not Ready), RollingUpdate', () => {
      for (const sts of validators()) {
        const spec = sts.spec as unknown as StatefulSetSpec;
        expect(spec.replicas).toBe(1);
        expect(spec.podManagementPolicy).toBe('Parallel');
        expect(spec.updateStrategy?.type).toBe('RollingUpdate');
      }
    });

    it('wires keyhold-fetch (init) and keyhold-keeper (native sidecar) with the hook contract', () => {
      for (const sts of validators()) {
        const pod = podSpec(sts);
        const fetch = container(pod.initContainers, 'keyhold-fetch');
        const keeper = container(pod.initContainers, 'keyhold-keeper');
        expect(pod.initContainers?.[0]?.name).toBe('keyhold-fetch');
        expect(fetch.restartPolicy).toBeUndefined();
        expect(keeper.restartPolicy).toBe('Always');
        for (const [c, verb] of [[fetch, 'fetch'], [keeper, 'keeper']] as const) {
          expect(c.image).toBe(HOOK_IMAGE);
          expect(c.command).toEqual(['keyhold-hook', verb]);
          for (const name of ['KEYHOLD_URL', 'KEYHOLD_VALIDATOR', 'KEYHOLD_TOKEN_FILE', 'KEYHOLD_KEY_DIR']) {
            expect(c.env?.some((e) => e.name === name), `${verb} ${name}`).toBe(true);
          }
          expect(envValue(c, 'KEYHOLD_TOKEN_FILE')).toBe('/var/run/secrets/keyhold/token');
          expect(envValue(c, 'KEYHOLD_KEY_DIR')).toBe('/keyhold/keys');
          expect(c.volumeMounts).toEqual(
            expect.arrayContaining([
              { name: 'keyhold-keys', mountPath: '/keyhold/keys' },
              expect.objectContaining({ name: 'keyhold-token', mountPath: '/var/run/secrets/keyhold' }),
            ]),
          );
        }
        expect(envValue(keeper, 'KEYHOLD_SIGNER_PROCESS')).toBe('lighthouse');
        expect(envValue(keeper, 'KEYHOLD_KEEPER_PORT')).toBe('9102');
        expect(keeper.livenessProbe?.exec?.command).toEqual(['keyhold-hook', 'probe']);
        expect(keeper.env?.map((e) => e.name)).toEqual(
          expect.arrayContaining(['KEYHOLD_PROBE_LOCAL_URL', 'KEYHOLD_PROBE_KIND', 'KEYHOLD_PROBE_MAX_BEHIND_SECONDS']),
        );
        expect(pod.shareProcessNamespace).toBe(true);
      }
    });

    it('keeps the key on a memory-backed emptyDir and presents a keyhold-audience projected token', () => {
      for (const sts of validators()) {
        const volumes = podSpec(sts).volumes ?? [];
        const keys = volumes.find((v) => v.name === 'keyhold-keys') as { emptyDir?: { medium?: string; sizeLimit?: string } };
        expect(keys.emptyDir?.medium).toBe('Memory');
        expect(keys.emptyDir?.sizeLimit).toBeTruthy();
        const token = volumes.find((v) => v.name === 'keyhold-token') as {
          projected?: { sources?: { serviceAccountToken?: { audience?: string; expirationSeconds?: number; path?: string } }[] };
        };
        expect(token.projected?.sources).toEqual([{ serviceAccountToken: { audience: 'keyhold', expirationSeconds: 600, path: 'token' } }]);
        // No disk-backed volume other than the slashing-protection claim.
        for (const v of volumes) {
          expect(Object.keys(v).filter((k) => k !== 'name'), String(v.name)).toEqual(expect.arrayContaining([expect.stringMatching(/^(emptyDir|projected)$/)]));
        }
      }
    });

    it('runs lighthouse vc on exactly what fetch wrote, doppelganger on, slashing import first', () => {
      for (const sts of validators()) {
        const vc = container(podSpec(sts).containers, 'validator');
        const script = (vc.args ?? []).join('\n');
        expect(script).toMatch(/--validators-dir "\$keys"/);
        expect(script).toMatch(/keys="\$KEYHOLD_KEY_DIR"/);
        expect(script).toContain('--enable-doppelganger-protection');
        // Global flags before the subcommand (test/k8s/lighthouse-wrapper.test.ts runs the script).
        expect(script).toContain('lh() { lighthouse --network "$NETWORK" --datadir "$data" "$@"; }');
        expect(envValue(vc, 'VC_DATADIR')).toBe('/data');
        const importAt = script.indexOf('slashing-protection import');
        const vcAt = script.indexOf('lh vc');
        expect(importAt).toBeGreaterThan(-1);
        expect(importAt).toBeLessThan(vcAt);
        expect(script).toMatch(/if \[ -f "\$keys\/slashing-protection\.json" \]; then/);
        expect(vc.volumeMounts).toEqual(
          expect.arrayContaining([
            { name: 'keyhold-keys', mountPath: '/keyhold/keys' },
            { name: 'slashing-protection', mountPath: '/data' },
          ]),
        );
        expect(envValue(vc, 'KEYHOLD_KEY_DIR')).toBe('/keyhold/keys');
      }
    });

    it('puts the slashing-protection database on a ReadWriteOncePod claim', () => {
      for (const sts of validators()) {
        const claims = (sts.spec as unknown as StatefulSetSpec).volumeClaimTemplates ?? [];
        expect(claims.map((c) => [c.metadata.name, c.spec.accessModes])).toEqual([['slashing-protection', ['ReadWriteOncePod']]]);
      }
    });

    it('locks down every container: non-root, read-only root, no capabilities, RuntimeDefault seccomp, limits', () => {
      for (const sts of objects().filter((o) => o.kind === 'StatefulSet')) {
        const pod = podSpec(sts);
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(pod.securityContext?.runAsNonRoot).toBe(true);
        expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          const where = `${sts.metadata.name}/${c.name}`;
          expect(c.securityContext?.runAsNonRoot, where).toBe(true);
          expect(c.securityContext?.readOnlyRootFilesystem, where).toBe(true);
          expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
          expect(c.securityContext?.capabilities, where).toEqual({ drop: ['ALL'] });
          expect(c.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
          expect(c.securityContext?.privileged, where).toBeUndefined();
          expect(Object.keys(c.resources?.requests ?? {}).sort(), where).toEqual(['cpu', 'memory']);
          expect(Object.keys(c.resources?.limits ?? {}).sort(), where).toEqual(['cpu', 'memory']);
        }
      }
    });

    it('has a PodDisruptionBudget with maxUnavailable 0 that selects the validator pod', () => {
      const pdbs = objects().filter((o) => o.kind === 'PodDisruptionBudget');
      for (const sts of validators()) {
        const labels = (sts.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
        const matching = pdbs.filter((p) => {
          const sel = (p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
          return Object.entries(sel).every(([k, v]) => labels[k] === v);
        });
        expect(matching).toHaveLength(1);
        expect((matching[0]?.spec as { maxUnavailable?: number }).maxUnavailable).toBe(0);
      }
    });

    it('limits validator traffic: egress to beacon, reference beacons, broker and DNS only; ingress only for metrics', () => {
      const policy = objects().find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'validator');
      const spec = policy?.spec as {
        policyTypes: string[];
        ingress: { from: unknown[]; ports: { port: number }[] }[];
        egress: { to: { podSelector?: { matchLabels?: Record<string, string> } }[]; ports: { port: number }[] }[];
      };
      expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(spec.ingress.flatMap((r) => r.ports.map((p) => p.port)).sort()).toEqual([5064, 9102]);
      expect(spec.egress.map((r) => r.ports.map((p) => p.port))).toEqual([[5052], [5052], [8443], [53, 53]]);
      expect(spec.egress.map((r) => r.to[0]?.podSelector?.matchLabels)).toEqual([
        { 'app.kubernetes.io/name': 'node' },
        { 'keyhold.io/probe-reference': 'true' },
        { 'app.kubernetes.io/name': 'keyhold-broker' },
        { 'k8s-app': 'kube-dns' },
      ]);
      const deny = objects().find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny');
      expect(deny?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    });

    it('grants pods no API access, and people no way into a running pod', () => {
      type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[] };
      const roles = objects().filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
      expect(roles.length).toBeGreaterThan(0);
      for (const role of roles) {
        for (const rule of (role as unknown as { rules: Rule[] }).rules) {
          const where = `${role.metadata.name}: ${JSON.stringify(rule)}`;
          expect(rule.resources, where).not.toContain('*');
          expect(rule.verbs, where).not.toContain('*');
          expect(rule.apiGroups, where).not.toContain('*');
          for (const r of ['pods/exec', 'pods/attach', 'pods/ephemeralcontainers', 'pods/portforward', 'pods/*']) expect(rule.resources, where).not.toContain(r);
          // Reading a Secret is reading whatever it holds; there are none, and no role may read one.
          expect(rule.resources, where).not.toContain('secrets');
        }
      }
      for (const binding of objects().filter((o) => /RoleBinding$/.test(o.kind))) {
        const subjects = (binding as unknown as { subjects: { kind: string }[] }).subjects;
        expect(subjects.map((x) => x.kind), binding.metadata.name).not.toContain('ServiceAccount');
      }
      for (const sa of objects().filter((o) => o.kind === 'ServiceAccount')) {
        expect(sa.automountServiceAccountToken, sa.metadata.name).toBe(false);
      }
    });

    it('shares the Engine API JWT only inside the node pod, from memory, on loopback', () => {
      const node = objects().find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'node');
      if (!node) throw new Error('no node StatefulSet');
      const pod = podSpec(node);
      const jwt = pod.volumes?.find((v) => v.name === 'engine-jwt') as { emptyDir?: { medium?: string } };
      expect(jwt.emptyDir?.medium).toBe('Memory');
      expect(container(pod.containers, 'geth').args).toEqual(expect.arrayContaining(['--authrpc.addr=127.0.0.1', '--authrpc.jwtsecret=/engine-jwt/jwt.hex']));
      expect(container(pod.containers, 'beacon').args).toEqual(
        expect.arrayContaining(['--execution-endpoint=http://127.0.0.1:8551', '--execution-jwt=/engine-jwt/jwt.hex', '--checkpoint-sync-url=$(CHECKPOINT_SYNC_URL)']),
      );
      expect(objects().filter((o) => o.kind === 'Secret')).toEqual([]);
    });

    it('selects the network and alerts on the keyhold metrics', () => {
      const net = overlay.includes('mainnet') ? 'mainnet' : 'hoodi';
      const cm = objects().find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('network-')) as { data?: Record<string, string> } | undefined;
      expect(cm?.data?.NETWORK).toBe(net);
      expect(objects().find((o) => o.kind === 'Namespace')?.metadata.name).toBe(`validators-${net}`);
      const exprs = objects()
        .filter((o) => o.kind === 'PrometheusRule')
        .flatMap((r) => (r.spec as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules.map((x) => x.expr)))
        .join('\n');
      for (const metric of ['keyhold_keeper_holding', 'keyhold_keeper_renew_failures_total', 'keyhold_keeper_epoch', 'keyhold_probe_behind_seconds']) {
        expect(exprs).toContain(metric);
      }
    });
  });

  it('the broker overlay: 3 replicas, shared non-SQLite state store, PDB, NetworkPolicy, denial alerts', () => {
    const objects = render('overlays/broker');
    const deploy = objects.find((o) => o.kind === 'Deployment');
    expect((deploy?.spec as { replicas: number }).replicas).toBe(3);
    const cm = objects.find((o) => o.kind === 'ConfigMap') as { data?: Record<string, string> } | undefined;
    expect(cm?.data?.KEYHOLD_STATE_STORE).toBeDefined();
    expect(cm?.data?.KEYHOLD_STATE_STORE).not.toBe('sqlite');
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(1);
    expect(objects.some((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'keyhold-broker')).toBe(true);
    expect(objects.some(isValidatorWorkload)).toBe(false);
    const rules = JSON.stringify(objects.filter((o) => o.kind === 'PrometheusRule'));
    expect(rules).toContain('keyhold_broker_decisions_total{decision=\\"denied\\"');
  });
});
